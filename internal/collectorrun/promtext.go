package collectorrun

import (
	"context"
	"strconv"
	"strings"
)

// Sample is one series of the collector's own metrics (Prometheus text format).
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Samples is a parsed scrape of the collector's own metrics.
type Samples []Sample

// ScrapeSelfMetrics fetches and parses the collector's own metrics.
func (c *Collector) ScrapeSelfMetrics(ctx context.Context) (Samples, error) {
	text, err := c.SelfMetrics(ctx)
	if err != nil {
		return nil, err
	}
	return ParsePromText(text), nil
}

// Sum adds the values of every series called name (with or without a _total suffix, which
// the collector's Prometheus exporter may or may not add) whose labels include every
// key=value pair in match ("key", "value", ...). A metric that was never recorded sums to 0.
func (s Samples) Sum(name string, match ...string) float64 {
	var sum float64
	for _, x := range s {
		if x.Name != name && x.Name != name+"_total" {
			continue
		}
		ok := true
		for i := 0; i+1 < len(match); i += 2 {
			if x.Labels[match[i]] != match[i+1] {
				ok = false
				break
			}
		}
		if ok {
			sum += x.Value
		}
	}
	return sum
}

// ParsePromText parses the Prometheus text exposition format, skipping comments and any
// line it cannot read.
func ParsePromText(text string) Samples {
	var out Samples
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		s := Sample{Labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(line, "{ "); i < 0 {
			continue
		} else {
			s.Name = line[:i]
			rest = line[i:]
		}
		if rest[0] == '{' {
			var ok bool
			rest, ok = parseLabels(rest[1:], s.Labels)
			if !ok {
				continue
			}
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		s.Value = v
		out = append(out, s)
	}
	return out
}

// parseLabels reads `k="v",...}` and returns what follows the closing brace.
func parseLabels(s string, into map[string]string) (string, bool) {
	for {
		s = strings.TrimLeft(s, " ,")
		if s == "" {
			return "", false
		}
		if s[0] == '}' {
			return s[1:], true
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return "", false
		}
		key := strings.TrimSpace(s[:eq])
		s = s[eq+2:]
		var b strings.Builder
		i := 0
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(s[i])
				}
				continue
			}
			b.WriteByte(s[i])
		}
		if i >= len(s) {
			return "", false
		}
		into[key] = b.String()
		s = s[i+1:]
	}
}
