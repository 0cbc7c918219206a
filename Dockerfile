# netdx in a container: the static release binary and nothing else. Build it
# with `make image` (buildah) or, after `make release`, with
#   docker build --build-arg TARGETARCH=amd64 -t ghcr.io/netdx/netdx .
# The image runs `netdx serve`; docs/deploy/kubernetes.yaml shows the host
# mounts, network and capabilities it needs to see the node.
FROM scratch
ARG TARGETARCH=amd64
COPY dist/netdx-linux-${TARGETARCH} /netdx
EXPOSE 9469
ENTRYPOINT ["/netdx"]
CMD ["serve", "--listen=:9469"]
