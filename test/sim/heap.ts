// A binary min-heap of timed items: the simulator's agenda. Items due at the same virtual time
// come out in insertion order, so a run never depends on how the heap happens to break ties.

export interface Timed<T> {
  at: number;
  item: T;
}

interface Slot<T> extends Timed<T> {
  order: number;
}

export class TimedHeap<T> {
  private readonly slots: Slot<T>[] = [];
  private inserted = 0;

  get size(): number {
    return this.slots.length;
  }

  push(at: number, item: T): void {
    this.slots.push({ at, item, order: this.inserted++ });
    this.siftUp(this.slots.length - 1);
  }

  /** The time of the earliest item, or Infinity when empty. */
  peekTime(): number {
    return this.slots.length === 0 ? Infinity : this.slots[0]!.at;
  }

  /** Removes and returns every item due at or before `time`, earliest first. */
  popDue(time: number): Timed<T>[] {
    const due: Timed<T>[] = [];
    while (this.slots.length > 0 && this.slots[0]!.at <= time) {
      const top = this.pop();
      due.push({ at: top.at, item: top.item });
    }
    return due;
  }

  /** Drops every item for which `keep` is false (used rarely: e.g. a crash cancels timers). */
  filter(keep: (item: T) => boolean): void {
    const kept = this.slots.filter((slot) => keep(slot.item));
    this.slots.length = 0;
    for (const slot of kept) {
      this.slots.push(slot);
      this.siftUp(this.slots.length - 1);
    }
  }

  private pop(): Slot<T> {
    const top = this.slots[0]!;
    const last = this.slots.pop()!;
    if (this.slots.length > 0) {
      this.slots[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private before(i: number, j: number): boolean {
    const a = this.slots[i]!;
    const b = this.slots[j]!;
    return a.at < b.at || (a.at === b.at && a.order < b.order);
  }

  private swap(i: number, j: number): void {
    [this.slots[i], this.slots[j]] = [this.slots[j]!, this.slots[i]!];
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < this.slots.length && this.before(left, least)) least = left;
      if (right < this.slots.length && this.before(right, least)) least = right;
      if (least === i) return;
      this.swap(i, least);
      i = least;
    }
  }
}
