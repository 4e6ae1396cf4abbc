package inventory_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/inventory/inventorytest"
)

// informerFixtureJSON is every fixture pod (testdata/pods and Istio's injected templates
// lifted into pods), as JSON: decoding it again gives each copy its own strings, as a
// watch does.
func informerFixtureJSON(tb testing.TB) [][]byte {
	var out [][]byte
	for _, glob := range []string{inventorytest.Testdata("pods", "*.yaml"), inventorytest.Testdata("real", "istio", "inject", "*.injected")} {
		files, err := filepath.Glob(glob)
		if err != nil {
			tb.Fatal(err)
		}
		for _, f := range files {
			for _, p := range inventorytest.LoadPods(tb, f) {
				js, err := json.Marshal(p)
				if err != nil {
					tb.Fatal(err)
				}
				out = append(out, js)
			}
		}
	}
	if len(out) == 0 {
		tb.Fatal("no fixture pods")
	}
	return out
}

func informerDecodePod(tb testing.TB, js []byte, i int) *corev1.Pod {
	p := &corev1.Pod{}
	if err := json.Unmarshal(js, p); err != nil {
		tb.Fatal(err)
	}
	p.Name = fmt.Sprintf("%s-%06d", p.Name, i)
	p.UID = types.UID(fmt.Sprintf("uid-%06d", i))
	return p
}

// informerCachedBytesPerPod: heap per pod of n fixture pods cached as keep makes them.
func informerCachedBytesPerPod(tb testing.TB, n int, keep func(*corev1.Pod) any) float64 {
	fixtures := informerFixtureJSON(tb)
	cached := make([]any, n)
	return heapBytesPerItem(n, func() {
		for i := range n {
			cached[i] = keep(informerDecodePod(tb, fixtures[i%len(fixtures)], i))
		}
	}, func() any { return cached })
}

// informerStoreBytesPerPod: heap per pod of the node-local Store's models (FromPod).
func informerStoreBytesPerPod(tb testing.TB, n int) float64 {
	fixtures := informerFixtureJSON(tb)
	store := inventory.NewStore(0)
	return heapBytesPerItem(n, func() {
		for i := range n {
			ev := inventory.ObjectEvent{Type: inventory.EventAdded, Pod: inventory.StripPod(informerDecodePod(tb, fixtures[i%len(fixtures)], i))}
			if _, err := store.Apply(ev, inventory.DefaultProxyIdentity()); err != nil {
				tb.Fatal(err)
			}
		}
	}, func() any { return store })
}

// BenchmarkPodCacheBytesPerPod: what the node-local informer cache holds per pod, as the
// apiserver sends it (raw) and after StripPod (stripped), and what the Store's model
// adds (store_model, target <= 8 KiB), at 10k and 100k pods. The fixtures carry no
// managedFields, which real pods do (often 2-6 KiB more raw). Run with -benchtime=1x.
func BenchmarkPodCacheBytesPerPod(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("raw/pods=%d", n), func(b *testing.B) {
			var perPod float64
			for b.Loop() {
				perPod = informerCachedBytesPerPod(b, n, func(p *corev1.Pod) any { return p })
			}
			b.ReportMetric(perPod, "bytes/pod")
		})
		b.Run(fmt.Sprintf("stripped/pods=%d", n), func(b *testing.B) {
			var perPod float64
			for b.Loop() {
				perPod = informerCachedBytesPerPod(b, n, func(p *corev1.Pod) any { return inventory.StripPod(p) })
			}
			b.ReportMetric(perPod, "bytes/pod")
		})
		b.Run(fmt.Sprintf("store_model/pods=%d", n), func(b *testing.B) {
			var perPod float64
			for b.Loop() {
				perPod = informerStoreBytesPerPod(b, n)
			}
			b.ReportMetric(perPod, "bytes/pod")
		})
	}
}
