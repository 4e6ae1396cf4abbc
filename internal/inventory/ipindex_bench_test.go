package inventory_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/inventory/inventorytest"
)

// heapBytesPerItem is the live heap n items add, per item: runtime.MemStats after GC,
// before and after build adds them (build's garbage is collected, only what it keeps
// counts). keep must return what holds the items, so they stay alive until measured.
func heapBytesPerItem(n int, build func(), keep func() any) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep())
	return (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n)
}

// ipIndexClusterPod is pod i of a synthetic cluster built on a real meshed pod: 500
// namespaces, 200 nodes, unique names, UIDs and IPs (v4; every tenth dual-stack).
func ipIndexClusterPod(template *corev1.Pod, i int) *corev1.Pod {
	p := template.DeepCopy()
	p.Namespace = fmt.Sprintf("team-%03d", i%500)
	p.Name = fmt.Sprintf("workload-%04d-6d8f9c7b5d-%05d", i/50, i)
	p.UID = types.UID(fmt.Sprintf("9c41d7e2-6b3a-4f58-8e0d-%012x", i))
	p.ResourceVersion = fmt.Sprint(1000 + i)
	p.Spec.NodeName = fmt.Sprintf("worker-%03d", i%200)
	ip := fmt.Sprintf("10.%d.%d.%d", 64+i>>16, (i>>8)&0xff, i&0xff)
	p.Status.PodIP = ip
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	if i%10 == 0 {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: fmt.Sprintf("fd00:10:244::%x", i)})
	}
	return p
}

// ipIndexBytesPerPod fills an index with n pods and returns its heap per pod.
func ipIndexBytesPerPod(tb testing.TB, n int) (float64, *inventory.IPIndex) {
	template := inventorytest.LoadPod(tb, inventorytest.Testdata("pods", "sapwned-job-uid-1337.yaml"))
	x := inventory.NewIPIndex(inventory.IPIndexOptions{})
	perPod := heapBytesPerItem(n, func() {
		for i := range n {
			x.Apply(inventory.ObjectEvent{Type: inventory.EventAdded, Pod: ipIndexClusterPod(template, i)})
		}
	}, func() any { return x })
	if got := x.Stats().Pods; got != n {
		tb.Fatalf("indexed %d pods, want %d", got, n)
	}
	return perPod, x
}

// BenchmarkIPIndexBytesPerPod: the cluster-wide index's memory per pod (target <= 1 KiB).
// Run with -benchtime=1x: each iteration builds the whole index.
func BenchmarkIPIndexBytesPerPod(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			var perPod float64
			for b.Loop() {
				perPod, _ = ipIndexBytesPerPod(b, n)
			}
			b.ReportMetric(perPod, "bytes/pod")
		})
	}
}

// BenchmarkIPIndexLookup: the per-observation cost of attributing an IP (0 allocs).
func BenchmarkIPIndexLookup(b *testing.B) {
	_, x := ipIndexBytesPerPod(b, 100000)
	ips := make([]string, 1024)
	for i := range ips {
		j := i * 97
		ips[i] = fmt.Sprintf("10.%d.%d.%d", 64+j>>16, (j>>8)&0xff, j&0xff)
	}
	at := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := x.Lookup(ips[i%len(ips)], at); !ok {
			b.Fatal("miss")
		}
		i++
	}
}
