/*
 * Safety numbers through the C API: a known answer from libsignal-client
 * (tests/vectors/fingerprint.json, "ACI ids, version 2"), both sides agreeing, every
 * comparison outcome, and bad input.
 */
#include "support.h"

static size_t unhex(uint8_t *out, size_t cap, const char *h) {
    size_t n = strlen(h) / 2;
    CHECK(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        CHECK(sscanf(h + 2 * i, "%2x", &v) == 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

#define LOCAL_ID "9d0652a3dcc34d11975f74d61598733f"
#define LOCAL_KEY "052f3b99101ae4e8239813e589e452d61ca85e47f7d2796bf16c5a4c37cfe2dd4f"
#define REMOTE_ID "796abedbca4e4f1888031fde5b921f9f"
#define REMOTE_KEY "059dcd9630e6f1453a9d65662530b1ca6b4d6ee284f55a64c0f30d1c91e4729a15"
#define DISPLAYABLE "230060276549876855529042946836951961944141068678017105816388"
#define SCANNABLE                                                                       \
    "080212220a2072ba4bb3fc2c54ea8ff165272211ac6a5994f599daca6339f2b835a0d9a4ed141a220a20" \
    "37497ce47ef974a7adcd236d369874eaaf21f550c2d908d63dbbce658ff40d9b"
#define MIRROR                                                                          \
    "080212220a2037497ce47ef974a7adcd236d369874eaaf21f550c2d908d63dbbce658ff40d9b1a220a20" \
    "72ba4bb3fc2c54ea8ff165272211ac6a5994f599daca6339f2b835a0d9a4ed14"

int main(void) {
    uint8_t lid[16], lkey[33], rid[16], rkey[33], scannable[128], mirror[128];
    unhex(lid, sizeof lid, LOCAL_ID);
    unhex(lkey, sizeof lkey, LOCAL_KEY);
    unhex(rid, sizeof rid, REMOTE_ID);
    unhex(rkey, sizeof rkey, REMOTE_KEY);
    size_t scannable_len = unhex(scannable, sizeof scannable, SCANNABLE);
    size_t mirror_len = unhex(mirror, sizeof mirror, MIRROR);

    /* The known answer, both sides. */
    MissiveFingerprint *ours = NULL, *theirs = NULL;
    CHECK_OK(missive_fingerprint_new(2, 5200, lid, 16, lkey, 33, rid, 16, rkey, 33, &ours));
    CHECK_OK(missive_fingerprint_new(2, 5200, rid, 16, rkey, 33, lid, 16, lkey, 33, &theirs));
    char digits[MISSIVE_FINGERPRINT_DISPLAY_LEN + 1], their_digits[sizeof digits];
    memset(digits, 'x', sizeof digits);
    CHECK_OK(missive_fingerprint_display_string(ours, digits, sizeof digits));
    CHECK(strcmp(digits, DISPLAYABLE) == 0);
    CHECK_OK(missive_fingerprint_display_string(theirs, their_digits, sizeof their_digits));
    CHECK(strcmp(their_digits, digits) == 0);
    MissiveBuffer mine, other;
    CHECK_OK(missive_fingerprint_scannable(ours, &mine));
    CHECK(mine.len == scannable_len && memcmp(mine.data, scannable, scannable_len) == 0);
    CHECK_OK(missive_fingerprint_scannable(theirs, &other));
    CHECK(other.len == mirror_len && memcmp(other.data, mirror, mirror_len) == 0);

    /* Scanning: each side accepts the other's code, not its own. */
    CHECK_OK(missive_fingerprint_compare(ours, other.data, other.len));
    CHECK_OK(missive_fingerprint_compare(theirs, mine.data, mine.len));
    CHECK_STATUS(missive_fingerprint_compare(ours, mine.data, mine.len),
                 MISSIVE_ERROR_FINGERPRINT_IDENTITY_MISMATCH);

    /* Another identity: mismatch. Another version: version mismatch. */
    MissiveFingerprint *stranger = NULL, *v1 = NULL;
    uint8_t skey[33];
    memcpy(skey, rkey, 33);
    skey[5] ^= 1;
    CHECK_OK(missive_fingerprint_new(2, 5200, rid, 16, skey, 33, lid, 16, lkey, 33, &stranger));
    MissiveBuffer s;
    CHECK_OK(missive_fingerprint_scannable(stranger, &s));
    CHECK_STATUS(missive_fingerprint_compare(ours, s.data, s.len),
                 MISSIVE_ERROR_FINGERPRINT_IDENTITY_MISMATCH);
    CHECK_OK(missive_fingerprint_new(1, 5200, rid, 16, rkey, 33, lid, 16, lkey, 33, &v1));
    MissiveBuffer sv1;
    CHECK_OK(missive_fingerprint_scannable(v1, &sv1));
    CHECK_STATUS(missive_fingerprint_compare(ours, sv1.data, sv1.len),
                 MISSIVE_ERROR_FINGERPRINT_VERSION_MISMATCH);

    /* Bad input: garbage and truncated codes, bad keys, too few iterations, a small
     * output array. */
    for (size_t n = 0; n < other.len; n++) {
        MissiveStatus st = missive_fingerprint_compare(ours, other.data, n);
        CHECK(st != MISSIVE_OK);
    }
    CHECK(missive_fingerprint_compare(ours, (const uint8_t *)"garbage", 7) != MISSIVE_OK);
    CHECK_STATUS(missive_fingerprint_compare(ours, NULL, 5), MISSIVE_ERROR_NULL_POINTER);
    MissiveFingerprint *bad = NULL;
    CHECK_STATUS(missive_fingerprint_new(2, 1, lid, 16, lkey, 33, rid, 16, rkey, 33, &bad),
                 MISSIVE_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(missive_fingerprint_new(2, 5200, lid, 16, lkey, 32, rid, 16, rkey, 33, &bad),
                 MISSIVE_ERROR_DECODE_BAD_LENGTH);
    CHECK(bad == NULL);
    CHECK_STATUS(missive_fingerprint_display_string(ours, digits, MISSIVE_FINGERPRINT_DISPLAY_LEN),
                 MISSIVE_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(missive_fingerprint_display_string(NULL, digits, sizeof digits),
                 MISSIVE_ERROR_NULL_POINTER);
    /* Empty stable ids are accepted. */
    CHECK_OK(missive_fingerprint_new(2, 2, NULL, 0, lkey, 33, NULL, 0, rkey, 33, &bad));

    missive_buffer_free(&mine);
    missive_buffer_free(&other);
    missive_buffer_free(&s);
    missive_buffer_free(&sv1);
    missive_fingerprint_free(&ours);
    missive_fingerprint_free(&theirs);
    missive_fingerprint_free(&stranger);
    missive_fingerprint_free(&v1);
    missive_fingerprint_free(&bad);
    support_done("test_fingerprint");
    return 0;
}
