package mesh

import (
	"hash/maphash"
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Series identities are hashed with maphash (AES-based where the CPU has it, no allocation)
// under one per-process seed: they are never persisted or compared across processes.
var hashSeed = maphash.MakeSeed()

func strHash(s string) uint64 { return maphash.String(hashSeed, s) }

// mix64 is the splitmix64 finaliser: it spreads a combination of hashes over all bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// pairHash hashes one key/value pair. An attribute set's hash is the sum of its pairs', so
// the order the sender put them in does not matter.
func pairHash(k, v uint64) uint64 { return mix64(k*0x9e3779b97f4a7c15 ^ v) }

const (
	tagInt    = 0x1b873593_00000001
	tagDouble = 0x1b873593_00000002
	tagBool   = 0x1b873593_00000003
	tagEmpty  = 0x1b873593_00000004
	tagOther  = 0x1b873593_00000005
)

// valueHash hashes a non-string attribute value. Strings are hashed by the callers directly.
func valueHash(v pcommon.Value) uint64 {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return strHash(v.Str())
	case pcommon.ValueTypeInt:
		return mix64(uint64(v.Int()) ^ tagInt)
	case pcommon.ValueTypeDouble:
		return mix64(math.Float64bits(v.Double()) ^ tagDouble)
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return mix64(1 ^ tagBool)
		}
		return mix64(tagBool)
	case pcommon.ValueTypeEmpty:
		return mix64(tagEmpty)
	default: // maps, slices, bytes: not seen on Istio series; allocation is acceptable here
		return strHash(v.AsString()) ^ tagOther
	}
}

// mapHash hashes a whole attribute map, independent of order.
func mapHash(m pcommon.Map) uint64 {
	var sum uint64
	for k, v := range m.All() {
		sum += pairHash(strHash(k), valueHash(v))
	}
	return sum
}

// smallInts holds "0".."999" so integer-typed status codes become strings without
// allocating.
var smallInts = func() (a [1000]string) {
	for i := range a {
		var b [3]byte
		n := 0
		switch {
		case i >= 100:
			b[0], b[1], b[2] = byte('0'+i/100), byte('0'+i/10%10), byte('0'+i%10)
			n = 3
		case i >= 10:
			b[0], b[1] = byte('0'+i/10), byte('0'+i%10)
			n = 2
		default:
			b[0] = byte('0' + i)
			n = 1
		}
		a[i] = string(b[:n])
	}
	return a
}()

// attrString returns a string attribute as is and small integers (status codes) as their
// decimal text; anything else is "" (not a value these readers use).
func attrString(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeInt:
		if n := v.Int(); n >= 0 && n < int64(len(smallInts)) {
			return smallInts[n]
		}
	}
	return ""
}

// attrInt returns an integer attribute, or a string attribute holding a decimal integer
// (Zipkin-sourced spans carry http.status_code as a string).
func attrInt(v pcommon.Value) (int64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeStr:
		return parseInt(v.Str())
	case pcommon.ValueTypeDouble:
		d := v.Double()
		if d >= math.MinInt64 && d <= math.MaxInt64 && d == math.Trunc(d) {
			return int64(d), true
		}
	}
	return 0, false
}

// parseInt parses an optionally signed decimal integer without allocating; "-" and other
// non-numbers are not ok. Overflow is not ok either.
func parseInt(s string) (int64, bool) {
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
