//go:build race

package rewrite

// raceEnabled: under the race detector sync.Pool drops items at random,
// so regexp allocates the machines it would reuse.
const raceEnabled = true
