// The client and server addresses the tests that run loaded eBPF programs on hand-built packets share.
export interface Fam {
  ver: 4 | 6;
  client: number[];
  server: number[];
}
export const V4: Fam = { ver: 4, client: [203, 0, 113, 5], server: [198, 51, 100, 7] };
export const V6: Fam = {
  ver: 6,
  client: [0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5],
  server: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7],
};
