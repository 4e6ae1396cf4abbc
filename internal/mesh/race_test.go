//go:build race

package mesh

// raceEnabled: the race detector changes allocation counts, so allocation tests skip.
const raceEnabled = true
