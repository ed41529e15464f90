/* USART1 (0x40011000): what a program needs to talk over a serial line. Transmission is instant
 * (TXE and TC stay set); received bytes wait in a FIFO (no overrun) and show as RXNE. Clocked
 * through RCC_APB2ENR.USART1EN. The front end moves the bytes to and from a TCP socket. */
#include "chip_internal.h"

#define SR_RXNE    (1u << 5)
#define SR_TC      (1u << 6)
#define SR_TXE     (1u << 7)
#define CR1_RE     (1u << 2)
#define CR1_TE     (1u << 3)
#define CR1_RXNEIE (1u << 5)
#define CR1_TCIE   (1u << 6)
#define CR1_TXEIE  (1u << 7)
#define CR1_UE     (1u << 13)

void usart_reset(chip_t *c)
{
    c->us_sr = SR_TXE | SR_TC;
    c->us_brr = c->us_cr1 = c->us_cr2 = c->us_cr3 = c->us_gtpr = 0;
}

static bool clocked(chip_t *c)
{
    return c->rcc[0x44 / 4] & (1u << 4);
}

static bool rx_ready(chip_t *c)
{
    return c->rx_len > 0 && (c->us_cr1 & (CR1_UE | CR1_RE)) == (CR1_UE | CR1_RE);
}

static uint32_t sr(chip_t *c)
{
    return (c->us_sr & (SR_TXE | SR_TC)) | (rx_ready(c) ? SR_RXNE : 0);
}

int usart_read(chip_t *c, uint32_t off, uint32_t *val, enum bus_src src)
{
    *val = 0;
    if (!clocked(c))
        return CHIP_OK;
    switch (off) {
    case 0x00:
        *val = sr(c);
        break;
    case 0x04:
        if (rx_ready(c) && src != SRC_DBG) {
            *val = c->rx_buf[c->rx_head];
            c->rx_head = (c->rx_head + 1) % USART_BUF;
            c->rx_len--;
        } else if (rx_ready(c)) {
            *val = c->rx_buf[c->rx_head]; /* a debugger peek does not consume */
        }
        break;
    case 0x08:
        *val = c->us_brr;
        break;
    case 0x0C:
        *val = c->us_cr1;
        break;
    case 0x10:
        *val = c->us_cr2;
        break;
    case 0x14:
        *val = c->us_cr3;
        break;
    case 0x18:
        *val = c->us_gtpr;
        break;
    default:
        break;
    }
    return CHIP_OK;
}

int usart_write(chip_t *c, uint32_t off, uint32_t val)
{
    if (!clocked(c))
        return CHIP_OK;
    switch (off) {
    case 0x00:
        c->us_sr &= val | ~SR_TC; /* TC clears by writing 0 */
        break;
    case 0x04:
        if ((c->us_cr1 & (CR1_UE | CR1_TE)) == (CR1_UE | CR1_TE)) {
            if (c->tx_len < USART_BUF) {
                c->tx_buf[(c->tx_head + c->tx_len) % USART_BUF] = (uint8_t)val;
                c->tx_len++;
            }
            c->us_sr |= SR_TC;
        }
        break;
    case 0x08:
        c->us_brr = val & 0xFFFFu;
        break;
    case 0x0C:
        c->us_cr1 = val & 0xBFFFu;
        if (val & (CR1_TXEIE | CR1_TCIE | CR1_RXNEIE))
            chip_request_stop(c, STOP_REEVAL);
        break;
    case 0x10:
        c->us_cr2 = val & 0x7F7Fu;
        break;
    case 0x14:
        c->us_cr3 = val & 0x0FFFu;
        break;
    case 0x18:
        c->us_gtpr = val & 0xFFFFu;
        break;
    default:
        break;
    }
    return CHIP_OK;
}

bool usart_irq(chip_t *c)
{
    uint32_t s = sr(c), cr = c->us_cr1;
    if (!clocked(c) || !(cr & CR1_UE))
        return false;
    return ((cr & CR1_TXEIE) && (s & SR_TXE)) || ((cr & CR1_TCIE) && (s & SR_TC)) ||
           ((cr & CR1_RXNEIE) && (s & SR_RXNE));
}

size_t chip_usart_take_tx(chip_t *c, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    while (n < cap && c->tx_len > 0) {
        buf[n++] = c->tx_buf[c->tx_head];
        c->tx_head = (c->tx_head + 1) % USART_BUF;
        c->tx_len--;
    }
    return n;
}

void chip_usart_give_rx(chip_t *c, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len && c->rx_len < USART_BUF; i++) {
        c->rx_buf[(c->rx_head + c->rx_len) % USART_BUF] = buf[i];
        c->rx_len++;
    }
    if (len && c->sleeping && exc_any_pending(c))
        c->sleeping = false;
}
