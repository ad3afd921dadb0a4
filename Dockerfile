# syntax=docker/dockerfile:1
# tokenledger: a release build checked against the committed .sqlx/ data (no database needed to
# build), on a slim runtime. Used by docker-compose.yml; DATABASE_URL must be set at run time (the
# image has no PostgreSQL binaries for the embedded cluster).
FROM rust:1-bookworm AS build
WORKDIR /src
ENV SQLX_OFFLINE=true
COPY Cargo.toml Cargo.lock ./
COPY .sqlx ./.sqlx
COPY migrations ./migrations
COPY catalog ./catalog
COPY src ./src
COPY crates ./crates
RUN cargo build --release --locked --bin tokenledger

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home tokenledger
COPY --from=build /src/target/release/tokenledger /usr/local/bin/tokenledger
USER tokenledger
ENV TOKENLEDGER_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tokenledger"]
CMD ["serve"]
