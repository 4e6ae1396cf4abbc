package mesh

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonKind is the kind of a JSON member value seen by scanFlatJSON.
type jsonKind uint8

const (
	jsonString jsonKind = iota
	jsonNumber
	jsonBool
	jsonNull
	jsonNested // an object or array, skipped; its raw text is passed
)

// scanFlatJSON calls f for each member of the JSON object s, in order, with the member's
// value: strings unescaped (a substring of s unless they contain escapes), numbers and
// literals as their raw text, nested objects and arrays as their raw text. It reports
// whether s is one well-formed object (surrounding whitespace allowed). It never panics and
// allocates only to unescape strings that contain escapes.
func scanFlatJSON(s string, f func(key, val string, kind jsonKind)) bool {
	i := skipWS(s, 0)
	if i >= len(s) || s[i] != '{' {
		return false
	}
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		return skipWS(s, i+1) == len(s)
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return false
		}
		key, next, ok := jsonReadString(s, i)
		if !ok {
			return false
		}
		i = skipWS(s, next)
		if i >= len(s) || s[i] != ':' {
			return false
		}
		i = skipWS(s, i+1)
		if i >= len(s) {
			return false
		}
		var val string
		var kind jsonKind
		switch c := s[i]; {
		case c == '"':
			val, next, ok = jsonReadString(s, i)
			kind = jsonString
		case c == '-' || (c >= '0' && c <= '9'):
			next = i + 1
			for next < len(s) && strings.IndexByte("0123456789+-.eE", s[next]) >= 0 {
				next++
			}
			val, ok, kind = s[i:next], true, jsonNumber
		case c == 't' || c == 'f' || c == 'n':
			lit := "null"
			kind = jsonNull
			if c == 't' {
				lit, kind = "true", jsonBool
			} else if c == 'f' {
				lit, kind = "false", jsonBool
			}
			ok = strings.HasPrefix(s[i:], lit)
			val, next = lit, i+len(lit)
		case c == '{' || c == '[':
			next, ok = jsonSkipNested(s, i)
			if ok {
				val = s[i:next]
			}
			kind = jsonNested
		}
		if !ok {
			return false
		}
		f(key, val, kind)
		i = skipWS(s, next)
		if i >= len(s) {
			return false
		}
		switch s[i] {
		case ',':
			i = skipWS(s, i+1)
		case '}':
			return skipWS(s, i+1) == len(s)
		default:
			return false
		}
	}
}

func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// jsonReadString reads the string whose opening quote is at s[i]; next is past its closing
// quote.
func jsonReadString(s string, i int) (val string, next int, ok bool) {
	start := i + 1
	for j := start; j < len(s); j++ {
		switch s[j] {
		case '"':
			return s[start:j], j + 1, true
		case '\\':
			return jsonUnescape(s, start)
		}
	}
	return "", 0, false
}

// jsonUnescape decodes a string with escapes starting at s[start] (after the opening quote).
func jsonUnescape(s string, start int) (string, int, bool) {
	b := make([]byte, 0, 64)
	for j := start; j < len(s); j++ {
		c := s[j]
		switch c {
		case '"':
			return string(b), j + 1, true
		case '\\':
			j++
			if j >= len(s) {
				return "", 0, false
			}
			switch s[j] {
			case '"', '\\', '/':
				b = append(b, s[j])
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := hex4(s, j+1)
				if !ok {
					return "", 0, false
				}
				j += 4
				if utf16.IsSurrogate(r) {
					if r2, ok := hex4(s, j+3); ok && j+2 < len(s) && s[j+1] == '\\' && s[j+2] == 'u' {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							r = d
							j += 6
						}
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", 0, false
			}
		default:
			b = append(b, c)
		}
	}
	return "", 0, false
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// jsonSkipNested skips the object or array opening at s[i]; next is past its close.
func jsonSkipNested(s string, i int) (next int, ok bool) {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1, true
			}
		case '"':
			// skip the string, escapes included
			k := j + 1
			for ; k < len(s) && s[k] != '"'; k++ {
				if s[k] == '\\' {
					k++
				}
			}
			if k >= len(s) {
				return 0, false
			}
			j = k
		}
	}
	return 0, false
}
