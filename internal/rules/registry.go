package rules

// PodRules returns a fresh instance of every registered pod rule, in catalogue order.
func PodRules() []PodRule {
	return []PodRule{
		AppUID1337{},
	}
}
