/* SHA-256 compression (FIPS 180-4, 6.2.2) for Cortex-M4 (Thumb-2, ARMv7E-M): the bootloader's
 * pv_sha256_blocks (declared in sha256.h, same contract as the C one in sha256.c).
 *
 *   void pv_sha256_blocks(uint32_t h[8], const uint8_t *data, size_t nblocks);
 *
 * Sized for the bootloader's flash budget and its 50 ms validation goal: rounds 0..15 unrolled,
 * rounds 16..63 as a loop over eight unrolled rounds (one full turn of the working variables, so
 * no register moves).
 *
 * Registers: the working variables a..h live in r4..r11 and change roles every round (the
 * macros below are called with the rotated names). r0 and r1 are scratch; r2/r3 alternate as
 * the Maj carry (a ^ b of one round is b ^ c of the next); r12/lr hold W[t-2] and W[t-1].
 *
 * Stack frame (offsets from the frame bottom, where sp is at block boundaries and in rounds
 * 0..15):
 *     0 ..  32   room for sp to sit below W[0] when round 16 starts
 *    32 .. 288   W[0..63], the message schedule of the current block
 *   288 .. 544   K[0..63], copied once per call so that every operand is sp-relative
 *   544 .. 560   h, the next block's address, the end of the data, and where the code that
 *                loads W[0..15] for the data's alignment starts
 *   560 .. 724   every 32 bytes, where to go after a group of eight rounds: the loop again
 *                after rounds 16..55, the end of the block after rounds 56..63
 * From round 16 on sp moves up 32 bytes per group of eight rounds, so that round i of every
 * group finds W and K at the same offsets, and each group's "ldr pc" its own word of the
 * column at 560. Nothing below sp is live (an interrupt may use it).
 *
 * The rounds: h += Sigma1(e) + Ch(e,f,g) + K[t] + W[t]; d += h; h += Sigma0(a) + Maj(a,b,c).
 *   Sigma1(e) = ror(e ^ ror(e,5) ^ ror(e,19), 6)      Sigma0(a) = ror(a ^ ror(a,11) ^ ror(a,20), 2)
 *   Ch = ((f ^ g) & e) ^ g                            Maj = ((a ^ b) & (b ^ c)) ^ b
 * Even rounds load K[t] and K[t+1] with one ldrd and add K[t+1] to g, which is the next round's
 * h. From round 16 on, each even round computes W[t] and W[t+1] together:
 *   W[t] = sigma1(W[t-2]) + W[t-7] + sigma0(W[t-15]) + W[t-16].
 * No branch and no address depends on the data (only on the alignment of the data pointer);
 * the schedule is wiped before returning. */

    .syntax unified
    .cpu cortex-m4
    .thumb

#define T  r0
#define X  r1
#define P0 r12
#define P1 lr

#define W_OFF 32
#define K_OFF 288
#define H_SLOT 544
#define P_SLOT 548 /* PEND_SLOT follows: one ldrd */
#define PEND_SLOT 552
#define LOAD_SLOT 556
#define NEXT_OFF 560 /* the column of continuations, one word per group of rounds 16..63 */
#define FRAME 724    /* with the 36 bytes pushed, sp stays 8-byte aligned */
    /* From round 16 on, relative to sp: W[t0 + j] and K[t0 + j] of the group starting at t0. */
#define SW_OFF 64
#define SK_OFF 320
#define LAST_SP 192 /* sp above the frame bottom in rounds 56..63 */

/* One round; w holds W[t]. kpair: this is an even round, load K[t] and K[t+1] from koff. */
.macro ROUND a, b, c, d, e, f, g, h, mo, mn, w, kpair, koff
    eor     T, \e, \e, ror #5
    eor     T, T, \e, ror #19
    add     \h, \h, T, ror #6
    eor     T, \f, \g
    ands    T, T, \e
    eors    T, T, \g
    add     \h, \h, T
    .if \kpair
    ldrd    T, X, [sp, #\koff]
    add     \h, \h, T
    add     \g, \g, X
    .endif
    add     \h, \h, \w
    add     \d, \d, \h
    eor     T, \a, \a, ror #11
    eor     T, T, \a, ror #20
    add     \h, \h, T, ror #2
    eor     \mn, \a, \b
    ands    \mo, \mo, \mn
    eors    \mo, \mo, \b
    add     \h, \h, \mo
.endm

/* Round t (0..15): W from the schedule the block prologue wrote, in pairs. */
.macro LROUND t, a, b, c, d, e, f, g, h, mo, mn
    .if (\t & 1) == 0
    ldrd    P0, P1, [sp, #W_OFF + 4 * \t]
    ROUND   \a, \b, \c, \d, \e, \f, \g, \h, \mo, \mn, P0, 1, K_OFF + 4 * \t
    .else
    ROUND   \a, \b, \c, \d, \e, \f, \g, \h, \mo, \mn, P1, 0, 0
    .endif
.endm

/* sigma0 / sigma1 of s into d. */
.macro SIG0 d, s
    ror     \d, \s, #7
    eor     \d, \d, \s, ror #18
    eor     \d, \d, \s, lsr #3
.endm
.macro SIG1 d, s
    ror     \d, \s, #17
    eor     \d, \d, \s, ror #19
    eor     \d, \d, \s, lsr #10
.endm

/* Round i (0..7) of rounds 16..63. sp is one group low on entry to round 0, which moves it. Even
 * rounds compute W[t] into P0 and W[t+1] into P1 (mn is free until the round's Maj), store
 * both, then run round t; odd rounds run on the W[t] already in P1. */
.macro SROUND i, a, b, c, d, e, f, g, h, mo, mn
    .if (\i & 1) == 0
    .if \i == 0
    ldrd    T, X, [sp, #32]!                    /* W[t-16], W[t-15] */
    .else
    ldrd    T, X, [sp, #SW_OFF + 4 * (\i - 16)]
    .endif
    SIG1    \mn, P0                             /* P0 = W[t-2] */
    add     T, T, \mn
    SIG1    \mn, P1                             /* P1 = W[t-1] */
    add     P1, X, \mn                          /* W[t+1] so far: W[t-15] + sigma1(W[t-1]) */
    SIG0    \mn, X
    add     P0, T, \mn                          /* W[t] so far: W[t-16] + sigma1 + sigma0 */
    ldrd    T, X, [sp, #SW_OFF + 4 * (\i - 7)]   /* W[t-7], W[t-6] */
    add     P0, P0, T
    add     P1, P1, X
    ldr     T, [sp, #SW_OFF + 4 * (\i - 14)]     /* W[t-14] */
    SIG0    X, T
    add     P1, P1, X
    strd    P0, P1, [sp, #SW_OFF + 4 * \i]
    ROUND   \a, \b, \c, \d, \e, \f, \g, \h, \mo, \mn, P0, 1, SK_OFF + 4 * \i
    .else
    ROUND   \a, \b, \c, \d, \e, \f, \g, \h, \mo, \mn, P1, 0, 0
    .endif
.endm

    .section .text.pv_sha256_blocks, "ax", %progbits
    .global pv_sha256_blocks
    .type   pv_sha256_blocks, %function
    .p2align 2
    .thumb_func
pv_sha256_blocks:
    cbnz    r2, .Lsome
    bx      lr
.Lsome:
    push    {r4-r11, lr}
    sub     sp, sp, #FRAME
    add     r2, r1, r2, lsl #6
    str     r0, [sp, #H_SLOT]
    str     r2, [sp, #PEND_SLOT]
    /* W[0..15] are the block's words, big-endian: ldm needs word alignment, ldr does not. */
    adr     r3, .Lload_aligned + 1
    tst     r1, #3
    beq     1f
    adr     r3, .Lload_unaligned + 1
1:  str     r3, [sp, #LOAD_SLOT]
    mov     r8, r1
    adr     r0, .LK
    add     r1, sp, #K_OFF
    movs    r2, #8
2:  ldmia   r0!, {r3-r7, r9-r11}
    stmia   r1!, {r3-r7, r9-r11}
    subs    r2, r2, #1
    bne     2b
    adr     r3, .Lrounds_16_63 + 1
    str     r3, [sp, #NEXT_OFF]
    str     r3, [sp, #NEXT_OFF + 32]
    str     r3, [sp, #NEXT_OFF + 64]
    str     r3, [sp, #NEXT_OFF + 96]
    str     r3, [sp, #NEXT_OFF + 128]
    adr     r3, .Lblock_end + 1
    str     r3, [sp, #NEXT_OFF + 160]

.Lblock:                                        /* r8: the block */
    add     r9, sp, #W_OFF
    ldr     pc, [sp, #LOAD_SLOT]
.Lload_aligned:
    ldmia   r8!, {r0-r7}
    rev     r0, r0
    rev     r1, r1
    rev     r2, r2
    rev     r3, r3
    rev     r4, r4
    rev     r5, r5
    rev     r6, r6
    rev     r7, r7
    stmia   r9!, {r0-r7}
    ldmia   r8!, {r0-r7}
    rev     r0, r0
    rev     r1, r1
    rev     r2, r2
    rev     r3, r3
    rev     r4, r4
    rev     r5, r5
    rev     r6, r6
    rev     r7, r7
    stmia   r9, {r0-r7}
.Lloaded:
    str     r8, [sp, #P_SLOT]
    ldr     r0, [sp, #H_SLOT]
    ldmia   r0, {r4-r11}
    eor     r2, r5, r6                          /* b ^ c for round 0's Maj */

    LROUND 0, r4, r5, r6, r7, r8, r9, r10, r11, r2, r3
    LROUND 1, r11, r4, r5, r6, r7, r8, r9, r10, r3, r2
    LROUND 2, r10, r11, r4, r5, r6, r7, r8, r9, r2, r3
    LROUND 3, r9, r10, r11, r4, r5, r6, r7, r8, r3, r2
    LROUND 4, r8, r9, r10, r11, r4, r5, r6, r7, r2, r3
    LROUND 5, r7, r8, r9, r10, r11, r4, r5, r6, r3, r2
    LROUND 6, r6, r7, r8, r9, r10, r11, r4, r5, r2, r3
    LROUND 7, r5, r6, r7, r8, r9, r10, r11, r4, r3, r2
    LROUND 8, r4, r5, r6, r7, r8, r9, r10, r11, r2, r3
    LROUND 9, r11, r4, r5, r6, r7, r8, r9, r10, r3, r2
    LROUND 10, r10, r11, r4, r5, r6, r7, r8, r9, r2, r3
    LROUND 11, r9, r10, r11, r4, r5, r6, r7, r8, r3, r2
    LROUND 12, r8, r9, r10, r11, r4, r5, r6, r7, r2, r3
    LROUND 13, r7, r8, r9, r10, r11, r4, r5, r6, r3, r2
    LROUND 14, r6, r7, r8, r9, r10, r11, r4, r5, r2, r3
    LROUND 15, r5, r6, r7, r8, r9, r10, r11, r4, r3, r2

.Lrounds_16_63:                                 /* sp one group low: SROUND 0 moves it */
    SROUND 0, r4, r5, r6, r7, r8, r9, r10, r11, r2, r3
    SROUND 1, r11, r4, r5, r6, r7, r8, r9, r10, r3, r2
    SROUND 2, r10, r11, r4, r5, r6, r7, r8, r9, r2, r3
    SROUND 3, r9, r10, r11, r4, r5, r6, r7, r8, r3, r2
    SROUND 4, r8, r9, r10, r11, r4, r5, r6, r7, r2, r3
    SROUND 5, r7, r8, r9, r10, r11, r4, r5, r6, r3, r2
    SROUND 6, r6, r7, r8, r9, r10, r11, r4, r5, r2, r3
    SROUND 7, r5, r6, r7, r8, r9, r10, r11, r4, r3, r2
    ldr     pc, [sp, #NEXT_OFF + 160 - LAST_SP] /* this group's word of the column */

    /* h += a..h, then the next block. */
.Lblock_end:
    sub     sp, sp, #LAST_SP
    ldr     r0, [sp, #H_SLOT]
    ldmia   r0, {r1, r2, r3, r12}
    add     r4, r4, r1
    add     r5, r5, r2
    add     r6, r6, r3
    add     r7, r7, r12
    stmia   r0!, {r4-r7}
    ldmia   r0, {r1, r2, r3, r12}
    add     r8, r8, r1
    add     r9, r9, r2
    add     r10, r10, r3
    add     r11, r11, r12
    stmia   r0, {r8-r11}
    ldrd    r8, r1, [sp, #P_SLOT]
    cmp     r8, r1
    bne     .Lblock

    /* Wipe the schedule (the message and what follows from it). */
    movs    r0, #0
    movs    r1, #0
    movs    r2, #0
    movs    r3, #0
    movs    r4, #16
    add     r8, sp, #W_OFF
4:  stmia   r8!, {r0-r3}
    subs    r4, r4, #1
    bne     4b
    add     sp, sp, #FRAME
    pop     {r4-r11, pc}

.Lload_unaligned:
    movs    r1, #16
3:  ldr     r0, [r8], #4
    rev     r0, r0
    str     r0, [r9], #4
    subs    r1, r1, #1
    bne     3b
    b       .Lloaded

    /* FIPS 180-4 4.2.2: the first 32 bits of the fractional parts of the cube roots of the
     * first 64 primes. */
    .p2align 2
.LK:
    .word   0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5
    .word   0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174
    .word   0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da
    .word   0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967
    .word   0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85
    .word   0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070
    .word   0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3
    .word   0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
    .size   pv_sha256_blocks, . - pv_sha256_blocks
