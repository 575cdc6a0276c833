//go:build !linux

package stats

// newProcfsBackend returns nil: the /proc fast path is Linux only.
func newProcfsBackend() procBackend { return nil }
