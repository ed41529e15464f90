/* The stub's first bytes: the header the host reads from stub.bin (lib/proto/proto.h,
 * PV_STUB_HDR_*), the entry point, and the idle breakpoint. The host starts the stub with
 * r0 = mailbox address, PC = entry, xPSR.T = 1; the entry masks interrupts, takes its own stack
 * and never returns. When the stub has nothing to do it halts on BKPT; the host resumes it at
 * stub_resume (the address in the header), past the breakpoint. With PV_MBOX_F_SPIN in the
 * mailbox flags it returns at once instead and polls again. */
    .syntax unified
    .thumb

    .section .stub_header, "a"
    .global stub_header
stub_header:
    .word   0x42535650          @ "PVSB"
    .hword  1                   @ PV_PROTO_VERSION
    .hword  24                  @ header size
    .word   stub_entry          @ Thumb bit set by the linker
    .word   stub_resume
    .word   __stub_ram_end
    .word   __stub_image_size

    .section .text.stub_entry, "ax"
    .global stub_entry
    .thumb_func
stub_entry:
    cpsid   i
    ldr     r1, =__stub_ram_end
    mov     sp, r1
    bl      stub_main
    b       .
    .ltorg

    .section .text.stub_idle, "ax"
    .global stub_idle
    .global stub_resume
    .thumb_func
stub_idle:
    ldr     r0, =__stub_ram_end @ where the host puts the mailbox (docs/protocol.md)
    ldr     r0, [r0, #4]        @ PV_MBOX_FLAGS
    lsls    r0, r0, #30         @ PV_MBOX_F_SPIN (bit 1) into N
    bmi     stub_resume
    bkpt    #0x50
    .thumb_func
stub_resume:
    bx      lr
    .ltorg
