//go:build !unix

package plexauth

import "time"

// processCPU is not measured here; benchmarks then report no cpu-ns/op.
func processCPU() time.Duration { return 0 }
