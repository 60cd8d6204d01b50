# identity-link's container image: `docker build -t identity-link .`
#
# Stages, in the order a builder without stage pruning runs them:
#   runtime-base  the runtime's settings (user, address, health check, entrypoint) on the
#                 distroless base; every image below inherits them
#   build         the shipped binary (the `dist` profile of Cargo.toml: release with
#                 whole-program optimisation): dependencies first (a layer kept while only the
#                 project's sources change), then the project, `--locked`, stripped
#   runtime       runtime-base plus the binary (the default target)
# `docker build --target runtime-base` builds the first stage alone, so an image can also be
# made from a binary built elsewhere (see scripts/ci-image.sh) with the same settings.

ARG RUST_VERSION=1.95

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime-base
# distroless's `nonroot` user, by number so that Kubernetes can check runAsNonRoot.
USER 65532:65532
ENV LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080
# No shell or curl in distroless: the binary asks its own /health/ready.
HEALTHCHECK --interval=10s --timeout=6s --start-period=5s --retries=3 \
    CMD ["identity-link", "health"]
ENTRYPOINT ["identity-link"]
CMD ["serve"]

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
ENV CARGO_TERM_COLOR=never
# The dependency layer: the manifests and empty crate roots, built once.
COPY Cargo.toml Cargo.lock ./
COPY ports/Cargo.toml ports/
COPY adapters/Cargo.toml adapters/
COPY testcontainers/Cargo.toml testcontainers/
COPY testing/Cargo.toml testing/
RUN mkdir -p src ports/src adapters/src testcontainers/src testing/src benches \
    && echo 'fn main() {}' > src/main.rs \
    && echo 'fn main() {}' > benches/backfill.rs \
    && touch src/lib.rs ports/src/lib.rs adapters/src/lib.rs testcontainers/src/lib.rs testing/src/lib.rs \
    && cargo build --profile dist --locked --bin identity-link
# The project itself; the crate roots are touched so that cargo sees them as newer than the
# empty ones built above.
COPY . .
RUN touch src/main.rs src/lib.rs ports/src/lib.rs adapters/src/lib.rs \
    && cargo build --profile dist --locked --bin identity-link \
    && install -D target/dist/identity-link /out/identity-link

FROM runtime-base AS runtime
COPY --from=build /out/identity-link /usr/local/bin/identity-link
