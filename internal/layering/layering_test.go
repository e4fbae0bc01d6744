// Package layering holds the test that keeps siphon's imports pointing
// downward (STYLE.md §1).
package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/siphon-go/siphon/"

// rank orders the layers; a package may import only lower ranks. Side
// packages (auth, stir, media, diameter, ipsec) sit beside the stack and may
// not import its upper layers.
func rank(pkg string) (int, bool) {
	top := strings.SplitN(strings.TrimPrefix(pkg, module), "/", 2)[0]
	switch top {
	case "internal":
		return 0, true
	case "sip":
		return 1, true
	case "transport":
		return 2, true
	case "transaction":
		return 3, true
	case "siptest":
		return 4, true
	case "dialog", "registrant":
		return 5, true
	case "auth", "stir", "media", "diameter", "ipsec":
		return 3, true // beside transaction: may use sip and transport
	case "proxy", "b2bua", "registrar":
		return 6, true
	case "examples":
		return 9, true
	}
	return 0, false
}

func TestImportsPointDownward(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"...").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := f[0]
		pr, ok := rank(pkg)
		if !ok {
			t.Errorf("%s: unknown top-level package; give it a rank", pkg)
			continue
		}
		for _, imp := range f[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			ir, _ := rank(imp)
			ptop := strings.SplitN(strings.TrimPrefix(pkg, module), "/", 2)[0]
			itop := strings.SplitN(strings.TrimPrefix(imp, module), "/", 2)[0]
			switch {
			case itop == ptop:
				// within one package tree
			case itop == "examples":
				t.Errorf("%s imports %s: nothing imports examples", pkg, imp)
			case ir >= pr:
				t.Errorf("%s (rank %d) imports %s (rank %d): imports must point down", pkg, pr, imp, ir)
			}
		}
	}
}
