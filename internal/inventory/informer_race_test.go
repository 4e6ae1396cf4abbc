//go:build race

package inventory_test

// informerRaceEnabled: the race detector multiplies heap use; memory budgets do not apply.
const informerRaceEnabled = true
