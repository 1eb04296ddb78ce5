// Connection slots of one HTTP listener. At the cap, a new connection takes the slot of the oldest
// connection that is not in the middle of a request (one still sending its headers, or idle between
// keep-alive requests) instead of being refused: 300 slow clients cannot shut a real one out.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export class ConnectionSlots {
  /** Open connections, oldest first; the value: how many requests of it are being answered. */
  private readonly open = new Map<Socket, number>();
  evicted = 0;

  constructor(readonly max: number) {}

  attach(server: Server): void {
    server.on('connection', (s: Socket) => this.onConnection(s));
    server.on('request', (req, res) => {
      const s = req.socket;
      if (!this.open.has(s)) return;
      this.open.set(s, (this.open.get(s) ?? 0) + 1);
      res.once('close', () => {
        const n = this.open.get(s);
        if (n !== undefined) this.open.set(s, Math.max(0, n - 1));
      });
    });
  }

  get size(): number {
    return this.open.size;
  }

  private onConnection(s: Socket): void {
    if (this.open.size >= this.max && !this.evictOne()) {
      s.destroy();
      return;
    }
    this.open.set(s, 0);
    s.once('close', () => this.open.delete(s));
  }

  /** Closes the oldest connection not being answered; false when every one is. */
  private evictOne(): boolean {
    for (const [s, busy] of this.open) {
      if (busy > 0) continue;
      this.open.delete(s);
      s.destroy();
      this.evicted++;
      return true;
    }
    return false;
  }
}
