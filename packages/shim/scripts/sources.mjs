// The C sources of libegress-shim, in one place for the local build (build-native.mjs) and the .deb (build-deb.mjs).
export const SHIM_SOURCES = ['shim.c', 'dns.c', 'dns-raw.c', 'exec-guard.c'];
