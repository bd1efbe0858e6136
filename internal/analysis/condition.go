// Package analysis is the pure part of the analysis engine: it judges a
// measurement by a metric's conditions, keeps a metric's tally, decides when
// the next measurement is due, and sums up a run. It reads no cluster and
// calls no provider.
package analysis

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// maxConditionLength bounds a condition's source; conditions are written by
// users and evaluated by the controller.
const maxConditionLength = 4096

// Compile checks a condition and prepares it for evaluation. A condition is
// an expression over `result`, the measured value, that must yield a bool:
// `result[0] >= 0.95`, `result.major == '1'`, `len(result) > 0`,
// `isNaN(result)`, `asInt(result) < 3`, `default(result, 0) > 1`.
func Compile(condition string) (*vm.Program, error) {
	if err := CheckExpression(condition, ConditionGrammar); err != nil {
		return nil, err
	}
	// No typed environment: the result's shape differs by provider and by
	// measurement, so indexing and member access are checked when evaluating.
	return expr.Compile(condition, expr.AsBool())
}

// Evaluate runs a condition on a measured value.
func Evaluate(condition string, result any) (bool, error) {
	program, err := Compile(condition)
	if err != nil {
		return false, err
	}
	return run(program, result)
}

func run(program *vm.Program, result any) (ok bool, err error) {
	defer func() {
		// The library reports errors as values; a panic in a helper on a
		// strange value must not take the controller down either.
		if r := recover(); r != nil {
			ok, err = false, fmt.Errorf("evaluating: %v", r)
		}
	}()
	out, err := expr.Run(program, environment(result))
	if err != nil {
		return false, err
	}
	b, isBool := out.(bool)
	if !isBool {
		return false, fmt.Errorf("the condition gave %T, not a bool", out)
	}
	return b, nil
}

// environment is what a condition sees: the result and the helpers.
func environment(result any) map[string]any {
	return map[string]any{
		"result":  result,
		"asInt":   asInt,
		"asFloat": asFloat,
		"isNaN":   isNaN,
		"isInf":   isInf,
		"isNil":   isNil,
		"default": defaultValue,
	}
}

func asInt(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case float64:
		if x != math.Trunc(x) || math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, fmt.Errorf("asInt: %v is not a whole number", x)
		}
		return int64(x), nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("asInt: %q is not an integer", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("asInt: cannot convert %T", v)
}

func asFloat(v any) (float64, error) {
	switch x := v.(type) {
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case float64:
		return x, nil
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, fmt.Errorf("asFloat: %q is not a number", x)
		}
		return f, nil
	}
	return 0, fmt.Errorf("asFloat: cannot convert %T", v)
}

func isNaN(v any) (bool, error) {
	f, err := asFloat(v)
	if err != nil {
		return false, err
	}
	return math.IsNaN(f), nil
}

func isInf(v any) (bool, error) {
	f, err := asFloat(v)
	if err != nil {
		return false, err
	}
	return math.IsInf(f, 0), nil
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// defaultValue is v, or def when v is missing, nil or NaN (a query that
// returned nothing).
func defaultValue(v, def any) any {
	if isNil(v) {
		return def
	}
	if f, ok := v.(float64); ok && math.IsNaN(f) {
		return def
	}
	if rv := reflect.ValueOf(v); (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Map) && rv.Len() == 0 {
		return def
	}
	return v
}

// Judge turns a measured value into a measurement phase by the metric's
// conditions. With both, the failure condition wins and neither holding is
// Inconclusive; with only a success condition, not succeeding is failing (and
// the other way round); with neither, nothing decides, so it is Inconclusive.
// An expression that cannot be evaluated is an Error.
func Judge(metric *v1alpha1.Metric, result any) (v1alpha1.AnalysisPhase, error) {
	success, failure := metric.SuccessCondition, metric.FailureCondition
	if success == "" && failure == "" {
		return v1alpha1.AnalysisPhaseInconclusive, errors.New("the metric has neither successCondition nor failureCondition")
	}
	var succeeded, failed bool
	var err error
	if success != "" {
		if succeeded, err = Evaluate(success, result); err != nil {
			return v1alpha1.AnalysisPhaseError, fmt.Errorf("successCondition %q: %w", success, err)
		}
	}
	if failure != "" {
		if failed, err = Evaluate(failure, result); err != nil {
			return v1alpha1.AnalysisPhaseError, fmt.Errorf("failureCondition %q: %w", failure, err)
		}
	}
	switch {
	case failure == "":
		failed = !succeeded
	case success == "":
		succeeded = !failed
	}
	switch {
	case failed:
		return v1alpha1.AnalysisPhaseFailed, nil
	case succeeded:
		return v1alpha1.AnalysisPhaseSuccessful, nil
	}
	return v1alpha1.AnalysisPhaseInconclusive, nil
}
