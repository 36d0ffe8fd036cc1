module github.com/siogo/siogo/bench/harness

go 1.26.0
