//go:build !race

package testpeer

// Race reports whether the race detector is on: load tests scale their
// rates down under it (it makes the code under test 5-10x slower), and
// `make load` runs them at full rate without it.
const Race = false
