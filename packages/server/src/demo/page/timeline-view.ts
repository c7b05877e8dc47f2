import type { AgentEvent } from '@agentcast/client';
import { createElement } from './create-element.js';
import { describeEvent } from './describe-event.js';
import { FrameFollower } from './follow-bottom.js';

/**
 * The run timeline: one entry per event, keyed by epoch and seq, so an event can never be drawn twice
 * (the SDK already drops duplicates; this is the page's own guarantee, checked by the browser test).
 * `stream_chunk` events of a run are drawn as spans inside one "streaming" entry, each still carrying
 * its own `data-testid="event"` and `data-seq`. Every entry of a run carries its label (`run 1`, `run 2`,
 * numbered as runs first appear), so concurrent runs stay apart when their events interleave.
 */
export class TimelineView {
  readonly #list: HTMLOListElement;
  /** Keeps the newest entry in view with one layout a frame, however many events the frame draws. */
  readonly #follow: FrameFollower;
  readonly #seen = new Set<string>();
  readonly #streams = new Map<string, HTMLElement>();
  /** run_id → its label, in the order runs appeared. */
  readonly #runLabels = new Map<string, string>();

  constructor(list: HTMLOListElement) {
    this.#list = list;
    this.#follow = new FrameFollower(list);
  }

  /** Draws `ev` unless it was drawn already; returns whether it was new. */
  add(ev: AgentEvent): boolean {
    const key = `${ev.epoch}:${ev.seq}`;
    if (this.#seen.has(key)) return false;
    this.#seen.add(key);
    if (ev.type === 'stream_chunk') {
      this.#appendChunk(ev);
      return true;
    }
    const look = describeEvent(ev);
    const title = createElement('div', { className: 'title' }, [
      createElement('span', { text: look.title }),
      ...this.#runLabel(ev),
      createElement('span', { className: 'meta', text: `#${ev.seq} · ${formatTime(ev.ts)}` }),
    ]);
    const details = look.details
      .filter((line) => line !== '')
      .map((line) => createElement('div', { className: 'detail', text: line }));
    this.#push(
      createElement('li', { className: `entry tone-${look.tone}`, attrs: eventAttrs(ev) }, [
        createElement('span', { className: 'icon', text: look.icon, attrs: { 'aria-hidden': 'true' } }),
        createElement('div', { className: 'body' }, [title, ...details]),
      ]),
    );
    return true;
  }

  /** A line that is not an event: a resume, a reset, an outage. */
  notice(text: string, tone: 'info' | 'warn' = 'info'): void {
    this.#push(
      createElement('li', { className: `notice notice-${tone}`, text, attrs: { 'data-testid': 'notice' } }),
    );
  }

  #appendChunk(ev: AgentEvent): void {
    const runKey = `${ev.epoch}:${ev.run_id ?? ''}`;
    let text = this.#streams.get(runKey);
    if (text === undefined) {
      text = createElement('p', { className: 'stream' });
      this.#streams.set(runKey, text);
      const title = createElement('div', { className: 'title' }, [
        createElement('span', { text: 'Streaming answer' }),
        ...this.#runLabel(ev),
        createElement('span', { className: 'meta', text: `from #${ev.seq}` }),
      ]);
      this.#push(
        createElement('li', { className: 'entry tone-stream', attrs: { 'data-testid': 'stream' } }, [
          createElement('span', { className: 'icon', text: '✎', attrs: { 'aria-hidden': 'true' } }),
          createElement('div', { className: 'body' }, [title, text]),
        ]),
      );
    }
    const chunk = typeof ev.data.text === 'string' ? ev.data.text : '';
    const stream = text;
    this.#follow.change(() => stream.append(createElement('span', { text: chunk, attrs: eventAttrs(ev) })));
  }

  /** The label of `ev`'s run (none for an event outside a run), with the full run id as its tooltip. */
  #runLabel(ev: AgentEvent): HTMLSpanElement[] {
    if (ev.run_id === undefined) return [];
    let label = this.#runLabels.get(ev.run_id);
    if (label === undefined) {
      label = `run ${this.#runLabels.size + 1}`;
      this.#runLabels.set(ev.run_id, label);
    }
    return [
      createElement('span', {
        className: 'run-label',
        text: label,
        attrs: { 'data-testid': 'run-label', title: ev.run_id },
      }),
    ];
  }

  #push(item: HTMLLIElement): void {
    this.#follow.change(() => this.#list.append(item));
    this.#list.dataset.empty = 'false';
  }
}

function eventAttrs(ev: AgentEvent): Record<string, string> {
  return {
    'data-testid': 'event',
    'data-type': ev.type,
    'data-seq': String(ev.seq),
    'data-run-id': ev.run_id ?? '',
  };
}

function formatTime(ts: string): string {
  const date = new Date(ts);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour12: false });
}
