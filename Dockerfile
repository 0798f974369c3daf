# Caddy with plex_auth, in the usual two stages: xcaddy in Caddy's builder
# image, the binary copied into the plain Caddy image.
#
#   docker build -t caddy-plexauth .
#
# The builder stage runs scripts/xcaddy-build.sh, the same script CI runs.
ARG CADDY_VERSION=2.11.9

FROM caddy:${CADDY_VERSION}-builder AS builder
# go.mod may ask for a newer Go than the image has; let Go fetch it.
ENV GOTOOLCHAIN=auto
COPY . /src/caddy-plexauth
RUN sh /src/caddy-plexauth/scripts/xcaddy-build.sh /usr/bin/caddy

FROM caddy:${CADDY_VERSION}
COPY --from=builder /usr/bin/caddy /usr/bin/caddy
