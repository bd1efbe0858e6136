package v1alpha1

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	kjson "sigs.k8s.io/json"
)

// UnmarshalJSON decodes a RolloutSpec tolerantly. The CRD schema lets some
// values through that the pod template's Go types refuse, such as
// `resources.requests.memory: invalid`; decoded strictly, one such Rollout
// would make every list of Rollouts fail, in the controller's cache and in
// every client, stopping the controller for all of them. As Argo Rollouts
// does, such a value is left out instead, and DecodeProblems names it, so
// that the controller and the CLI can say so.
func (s *RolloutSpec) UnmarshalJSON(data []byte) error {
	type plain RolloutSpec
	// Case-sensitive, as the API machinery decodes.
	err := kjson.UnmarshalCaseSensitivePreserveInts(data, (*plain)(s))
	if err == nil {
		return nil
	}
	var raw map[string]any
	if kjson.UnmarshalCaseSensitivePreserveInts(data, &raw) != nil {
		return err
	}
	var dropped []string
	dropInvalidQuantities(raw, "spec", &dropped)
	if len(dropped) == 0 {
		return err
	}
	clean, merr := json.Marshal(raw)
	if merr != nil {
		return err
	}
	*s = RolloutSpec{}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(clean, (*plain)(s)); err != nil {
		return err
	}
	sort.Strings(dropped)
	s.DecodeProblems = dropped
	return nil
}

// quantityMaps are the keys whose values map resource names to quantities;
// quantityFields are single quantities.
var (
	quantityMaps   = map[string]bool{"limits": true, "requests": true, "overhead": true}
	quantityFields = map[string]bool{"sizeLimit": true}
)

// dropInvalidQuantities removes, anywhere under v, the quantities that do not
// parse, and records each one's path and value.
func dropInvalidQuantities(v any, path string, dropped *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			p := path + "." + k
			switch {
			case quantityMaps[k]:
				if m, ok := val.(map[string]any); ok {
					for name, q := range m {
						if !validQuantity(q) {
							*dropped = append(*dropped, fmt.Sprintf("%s.%s: invalid quantity %s, left out", p, name, describe(q)))
							delete(m, name)
						}
					}
					continue
				}
			case quantityFields[k] && !validQuantity(val):
				*dropped = append(*dropped, fmt.Sprintf("%s: invalid quantity %s, left out", p, describe(val)))
				delete(x, k)
				continue
			}
			dropInvalidQuantities(val, p, dropped)
		}
	case []any:
		for i, e := range x {
			dropInvalidQuantities(e, fmt.Sprintf("%s[%d]", path, i), dropped)
		}
	}
}

func validQuantity(v any) bool {
	switch q := v.(type) {
	case string:
		_, err := resource.ParseQuantity(q)
		return err == nil
	case int64, float64:
		return true
	}
	return false
}

func describe(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return fmt.Sprintf("%q", strings.ToValidUTF8(s, "?"))
}
