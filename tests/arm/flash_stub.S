/* A flash loader in the style FACTS §5.3 describes for OpenOCD's stm32f2x algorithm, written
 * here for the simulator's own tests: it programs half-words from a FIFO in SRAM that the
 * debugger fills while the core runs.
 *   r0 = FIFO start: [write pointer][read pointer][data...]   (0 in the write pointer aborts)
 *   r1 = FIFO end, r2 = flash address, r3 = half-word count, r4 = FLASH registers (0x40023C00)
 * Ends on BKPT with r0 = 0 (done), or r0 = FLASH_SR on an error. */
    .syntax unified
    .thumb
    .global flash_stub
    .thumb_func
flash_stub:
wait:
    ldr     r5, [r0]            @ write pointer
    cmp     r5, #0
    beq     abort
    ldr     r6, [r0, #4]        @ read pointer
    cmp     r5, r6
    beq     wait                @ FIFO empty: wait for the debugger
    movw    r7, #0x101          @ PG, PSIZE x16
    str     r7, [r4, #0x10]
    ldrh    r7, [r6], #2
    strh    r7, [r2], #2
    dsb
busy:
    ldr     r7, [r4, #0x0C]     @ FLASH_SR
    tst     r7, #0x10000        @ BSY
    bne     busy
    tst     r7, #0xF0           @ PGSERR PGPERR PGAERR WRPERR
    bne     error
    cmp     r6, r1
    it      cs
    addcs   r6, r0, #8          @ wrap
    str     r6, [r0, #4]
    subs    r3, #1
    bne     wait
    movs    r0, #0
    bkpt    #0
error:
    mov     r0, r7
    bkpt    #0
abort:
    movs    r0, #1
    bkpt    #0
