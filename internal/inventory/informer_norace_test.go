//go:build !race

package inventory_test

const informerRaceEnabled = false
