//go:build race

package transports

const raceEnabled = true
