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
	./drivers/aliyun:FuzzLinkExpiry \
	./internal/console:FuzzSafeNext

# os/arch pairs built without cgo, as the Docker image builds them:
# linux/arm64 is the image for most NAS boxes and Raspberry Pis (x86-64 is
# what the tests run on); darwin/arm64 keeps the non-Linux half of the
# image's entry point compiling for developers.
CROSS_TARGETS = linux/arm64 darwin/arm64

.PHONY: test vet cross fuzz bench-quick unit image

test: vet cross fuzz bench-quick unit

vet:
	gofmt -l . | (! grep .) || (echo "gofmt: the files above are not formatted" && false)
	go vet ./...

cross:
	@set -e; for t in $(CROSS_TARGETS); do \
		echo "build for $$t"; \
		CGO_ENABLED=0 GOOS=$${t%%/*} GOARCH=$${t##*/} go build -o /dev/null .; \
	done

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

# The Docker image, stamped with the version git describes.
image:
	docker build --build-arg VERSION=$$(git describe --tags --always --dirty 2>/dev/null || echo dev) -t pandav .
