package replay

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRulesLeftOff(t *testing.T) {
	off, err := rulesLeftOff("../../../testdata/meshsim/collector.yaml")
	require.NoError(t, err)
	assert.Empty(t, off, "the eval scores unaccounted_egress")
	off, err = rulesLeftOff("../../../testdata/demo/config.yaml")
	require.NoError(t, err)
	assert.Empty(t, off, "the demo shows unaccounted_egress too")
}
