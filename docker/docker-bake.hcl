# docker buildx bake -f docker/docker-bake.hcl [all|amd64|arm64|armv7]
# Run from the repository root. One target per platform, so the default `docker` driver
# (which builds a single platform per --load) works; `all` also suits a docker-container
# builder pushing a multi-arch image. build/images drives the same Dockerfile offline.

variable "TAG" { default = "edge-asr:0.1.0" }
# Ordinary builds pull Debian from Docker Hub; build/images passes local mmdebstrap bases.
variable "BASE_IMAGE" { default = "debian:bookworm-slim" }
variable "BASE_IMAGE_AMD64" { default = "${BASE_IMAGE}" }
variable "BASE_IMAGE_ARM64" { default = "${BASE_IMAGE}" }
variable "BASE_IMAGE_ARMV7" { default = "${BASE_IMAGE}" }
# The builder stage runs on the build machine (amd64), never under emulation.
variable "BUILDER_IMAGE" { default = "${BASE_IMAGE_AMD64}" }

group "default" { targets = ["amd64", "arm64", "armv7"] }
group "all" { targets = ["amd64", "arm64", "armv7"] }

target "_common" {
  context    = "."
  dockerfile = "docker/Dockerfile"
  args = {
    BUILDER_IMAGE = "${BUILDER_IMAGE}"
    WHEELS_DIR    = "out/wheels"
  }
}

target "amd64" {
  inherits  = ["_common"]
  platforms = ["linux/amd64"]
  args      = { BASE_IMAGE = "${BASE_IMAGE_AMD64}" }
  tags      = ["${TAG}-amd64"]
}

target "arm64" {
  inherits  = ["_common"]
  platforms = ["linux/arm64"]
  args      = { BASE_IMAGE = "${BASE_IMAGE_ARM64}" }
  tags      = ["${TAG}-arm64"]
}

target "armv7" {
  inherits  = ["_common"]
  platforms = ["linux/arm/v7"]
  args      = { BASE_IMAGE = "${BASE_IMAGE_ARMV7}" }
  tags      = ["${TAG}-armv7"]
}
