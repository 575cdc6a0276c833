package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/ui"
)

// TestREADMEKeyTable: the README's key table is the one the console's
// bindings generate, so the documentation cannot drift from the keys.
func TestREADMEKeyTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), strings.TrimSpace(ui.KeyTableMarkdown())) {
		t.Fatalf("README.md's key table differs from ui.KeyTableMarkdown(); paste this:\n%s", ui.KeyTableMarkdown())
	}
}
