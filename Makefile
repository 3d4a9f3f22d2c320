# The README's test command is `make test`; .ci/run runs exactly that.

# An execution count, not a time: a time limit can end a run while it
# minimizes a new input, which Go reports as a failure
# ("context deadline exceeded").
FUZZTIME ?= 20000x
# package:target pairs; `make fuzz FUZZTIME=10m` is the long run outside CI
FUZZ_TARGETS = \
	./config:FuzzParse \
	./webdav:FuzzMountMapping \
	./webdav:FuzzHeaders \
	./drivers/pan115:FuzzLenientJSON \
	./drivers/pan115:FuzzLinkQuery \
	./drivers/aliyun:FuzzListPage \
	./drivers/aliyun:FuzzLinkExpiry

.PHONY: test vet fuzz bench-quick unit

test: vet fuzz bench-quick unit

vet:
	gofmt -l . | (! grep .) || (echo "gofmt: the files above are not formatted" && false)
	go vet ./...

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$fn in $$pkg for $(FUZZTIME)"; \
		go test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

bench-quick:
	go run ./bench --quick

unit:
	go test -count=1 -timeout 20m ./...
