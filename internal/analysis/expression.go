package analysis

import (
	"fmt"
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// Expressions are written by template authors and evaluated by the one
// controller every tenant shares, so their language is cut down, on the
// syntax tree, to what Argo Rollouts documents in them: comparisons,
// arithmetic, boolean logic, indexing and slicing, literals, a conditional,
// the helpers, and all, any, filter and map over the measured result (one
// level deep). No ranges, let, reduce, repeat or other builtins, no nested
// closures: with the node bound below, evaluating one is bounded in time
// and memory by the size of the result, which the providers bound.

// maxExpressionNodes bounds an expression's syntax tree.
const maxExpressionNodes = 256

// Grammar is what an expression may name.
type Grammar struct {
	// Identifiers are the names it may read (result, helpers it calls).
	Identifiers []string
	// Builtins are the expr builtins it may call.
	Builtins []string
	// Over is the identifier that all, any, filter and map must range
	// over (directly or a member of it); empty allows none of them.
	Over string
}

// ConditionGrammar is a successCondition's or failureCondition's.
var ConditionGrammar = Grammar{
	Identifiers: []string{"result", "asInt", "asFloat", "isNaN", "isInf", "isNil", "default"},
	Builtins:    []string{"len", "all", "any", "none", "one", "filter", "map", "count", "abs", "ceil", "floor", "round", "int", "float", "string", "trim", "lower", "upper", "hasPrefix", "hasSuffix"},
	Over:        "result",
}

// closureBuiltins take a closure as their second argument.
var closureBuiltins = []string{"all", "any", "none", "one", "filter", "map", "count"}

// binaryOperators are the binary operators an expression may use; ".."
// (ranges) is not among them.
var binaryOperators = []string{"==", "!=", "<", ">", "<=", ">=", "&&", "||", "and", "or", "+", "-", "*", "/", "%", "**", "^",
	"in", "not in", "matches", "not matches", "contains", "not contains", "startsWith", "not startsWith", "endsWith", "not endsWith", "??"}

// CheckExpression parses src and checks it against g. The error says what
// is not allowed; the caller names the field.
func CheckExpression(src string, g Grammar) error {
	if len(src) > maxConditionLength {
		return fmt.Errorf("longer than %d characters", maxConditionLength)
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return err
	}
	c := &checker{g: g}
	c.check(tree.Node, false)
	if c.nodes > maxExpressionNodes {
		return fmt.Errorf("too large: %d parts, at most %d", c.nodes, maxExpressionNodes)
	}
	return c.err
}

type checker struct {
	g     Grammar
	nodes int
	err   error
}

func (c *checker) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf(format, args...)
	}
}

// check walks n; inClosure says n is inside an all/any/filter/map body.
func (c *checker) check(n ast.Node, inClosure bool) {
	if n == nil || c.err != nil {
		return
	}
	c.nodes++
	if c.nodes > maxExpressionNodes {
		return
	}
	switch n := n.(type) {
	case *ast.NilNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.StringNode, *ast.ConstantNode:
	case *ast.IdentifierNode:
		if !slices.Contains(c.g.Identifiers, n.Value) {
			c.fail("%q is not known here (known: %v)", n.Value, c.g.Identifiers)
		}
	case *ast.PointerNode:
		if !inClosure {
			c.fail("# outside all, any, filter or map")
		}
	case *ast.UnaryNode:
		c.check(n.Node, inClosure)
	case *ast.BinaryNode:
		if !slices.Contains(binaryOperators, n.Operator) {
			c.fail("the operator %q is not allowed (ranges and the like make evaluation unbounded)", n.Operator)
		}
		c.check(n.Left, inClosure)
		c.check(n.Right, inClosure)
	case *ast.ChainNode:
		c.check(n.Node, inClosure)
	case *ast.MemberNode:
		if n.Method {
			c.fail("methods are not allowed")
		}
		c.check(n.Node, inClosure)
		c.check(n.Property, inClosure)
	case *ast.SliceNode:
		c.check(n.Node, inClosure)
		c.check(n.From, inClosure)
		c.check(n.To, inClosure)
	case *ast.ConditionalNode:
		c.check(n.Cond, inClosure)
		c.check(n.Exp1, inClosure)
		c.check(n.Exp2, inClosure)
	case *ast.ArrayNode:
		for _, e := range n.Nodes {
			c.check(e, inClosure)
		}
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok || !slices.Contains(c.g.Identifiers, id.Value) {
			c.fail("only the helpers %v may be called", c.g.Identifiers)
			return
		}
		for _, a := range n.Arguments {
			c.check(a, inClosure)
		}
	case *ast.BuiltinNode:
		if !slices.Contains(c.g.Builtins, n.Name) {
			c.fail("the function %q is not allowed", n.Name)
			return
		}
		if !slices.Contains(closureBuiltins, n.Name) {
			for _, a := range n.Arguments {
				c.check(a, inClosure)
			}
			return
		}
		if inClosure {
			c.fail("%s inside another closure is not allowed", n.Name)
			return
		}
		if len(n.Arguments) != 2 || !c.rootedAt(n.Arguments[0]) {
			c.fail("%s must range over %s itself", n.Name, orNothing(c.g.Over))
			return
		}
		c.check(n.Arguments[0], false)
		p, ok := n.Arguments[1].(*ast.PredicateNode)
		if !ok {
			c.fail("%s takes a closure", n.Name)
			return
		}
		c.nodes++
		c.check(p.Node, true)
	default:
		c.fail("%T is not allowed", n)
	}
}

// rootedAt reports whether n is g.Over, or a member, index or slice of it.
func (c *checker) rootedAt(n ast.Node) bool {
	for {
		switch x := n.(type) {
		case *ast.IdentifierNode:
			return c.g.Over != "" && x.Value == c.g.Over
		case *ast.MemberNode:
			n = x.Node
		case *ast.SliceNode:
			n = x.Node
		case *ast.ChainNode:
			n = x.Node
		default:
			return false
		}
	}
}

func orNothing(s string) string {
	if s == "" {
		return "(nothing: not allowed here)"
	}
	return s
}
