/* Linked for SRAM (0x20000000): a debugger loads it, breaks in tick() and reads counter. */
#include <stdint.h>

volatile uint32_t counter;
void tick(void);

__attribute__((noinline)) void tick(void)
{
    counter++;
}

int main(void)
{
    for (;;)
        tick();
}
