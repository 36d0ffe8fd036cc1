module github.com/siogo/siogo

go 1.26

require (
	github.com/lesismal/nbio v1.6.8
	github.com/vmihailenco/msgpack/v5 v5.4.1
)

require (
	github.com/lesismal/llib v1.2.2 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	golang.org/x/crypto v0.0.0-20210513122933-cd7d49e622d5 // indirect
	golang.org/x/sys v0.0.0-20210423082822-04245dca01da // indirect
)
