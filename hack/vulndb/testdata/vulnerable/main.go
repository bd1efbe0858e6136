// A program that calls a function with a known vulnerability (GO-2021-0113,
// golang.org/x/text/language before v0.3.7): hack/vulncheck runs govulncheck
// on it first, and fails unless the check finds it, so that the check of
// Vireo itself is shown able to fail.
package main

import (
	"fmt"

	"golang.org/x/text/language"
)

func main() {
	tags, _, err := language.ParseAcceptLanguage("en-US,en;q=0.9")
	fmt.Println(tags, err)
}
