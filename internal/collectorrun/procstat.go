package collectorrun

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file: what the load harness (test/load) reads about a running collector process and
// the machine, from /proc (Linux only).

// Pid is the collector process's id (0 when it was not started).
func (c *Collector) Pid() int {
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// ProcSample is one reading of a process's CPU time and memory.
type ProcSample struct {
	// CPU is user + system time (utime + stime in /proc/<pid>/stat).
	CPU time.Duration
	// RSS is the resident set size now (VmRSS), HWM its peak so far (VmHWM), in bytes.
	RSS, HWM int64
}

var (
	clkTckOnce sync.Once
	clkTck     int64 = 100
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: `getconf CLK_TCK`, 100
// when getconf is missing (its value on every common Linux architecture).
func clockTicks() int64 {
	clkTckOnce.Do(func() {
		out, err := exec.Command("getconf", "CLK_TCK").Output()
		if err != nil {
			return
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			clkTck = n
		}
	})
	return clkTck
}

// ReadProc reads pid's CPU time from /proc/<pid>/stat and its VmRSS and VmHWM from
// /proc/<pid>/status.
func ReadProc(pid int) (ProcSample, error) {
	var s ProcSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: fields count
	// from after the last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: %d fields after the command", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	s.CPU = time.Duration((utime + stime) * int64(time.Second) / clockTicks())

	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/%d/status %s: %q", pid, k, v)
		}
		if k == "VmRSS" {
			s.RSS = kb << 10
		} else {
			s.HWM = kb << 10
		}
	}
	return s, sc.Err()
}

// MachineCPU is the machine-wide CPU time from /proc/stat's "cpu" line: Busy is everything
// but idle and iowait, summed over all cores.
type MachineCPU struct {
	Busy, Total time.Duration
}

// ReadMachineCPU reads /proc/stat.
func ReadMachineCPU() (MachineCPU, error) {
	var m MachineCPU
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return m, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return m, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	tick := int64(time.Second) / clockTicks()
	// user nice system idle iowait irq softirq steal (guest and guest_nice are already
	// counted in user and nice).
	for i, v := range f[1:] {
		if i >= 8 {
			break
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return m, fmt.Errorf("/proc/stat: %q", v)
		}
		d := time.Duration(n * tick)
		m.Total += d
		if i != 3 && i != 4 {
			m.Busy += d
		}
	}
	return m, nil
}

// LoadAvg returns the 1, 5 and 15 minute load averages from /proc/loadavg.
func LoadAvg() ([3]float64, error) {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l, err
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return l, fmt.Errorf("/proc/loadavg: %q", b)
	}
	for i := range l {
		if l[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return l, fmt.Errorf("/proc/loadavg: %q", b)
		}
	}
	return l, nil
}
