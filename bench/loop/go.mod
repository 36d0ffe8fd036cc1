module github.com/siogo/siogo/bench/loop

go 1.26.0

require (
	github.com/lesismal/llib v1.2.2
	github.com/lesismal/nbio v1.6.8
	github.com/siogo/siogo v0.0.0
)

require (
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/siogo/siogo => ../..
