import { sleep } from './clock.mjs';

/**
 * The progress display: one status line, rewritten in place on a terminal and printed every few seconds
 * otherwise (CI logs). `[step/total] scenario · server · phase · time · live figure`.
 */
export class Progress {
  #total;
  #step = 0;
  #label = '';
  #started = Date.now();
  #tty = process.stderr.isTTY === true;
  #lastPrint = 0;

  constructor(total) {
    this.#total = total;
  }

  begin(label) {
    this.#step++;
    this.#label = label;
    this.note('starting');
  }

  /** Shows `text` as the current phase. */
  note(text, force = true) {
    const elapsed = Math.round((Date.now() - this.#started) / 1000);
    const line = `[${this.#step}/${this.#total}] ${this.#label} · ${text} · total ${formatTime(elapsed)}`;
    if (this.#tty) process.stderr.write(`\r\x1b[K${line}`);
    else if (force || Date.now() - this.#lastPrint > 5000) {
      process.stderr.write(`${line}\n`);
      this.#lastPrint = Date.now();
    }
  }

  /** Waits `ms` in one-second steps, showing the countdown and, when given, a live figure from `sample`. */
  async wait(ms, phase, sample) {
    const end = Date.now() + ms;
    this.note(phase);
    while (Date.now() < end) {
      await sleep(Math.min(1000, end - Date.now()));
      const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      const figure = sample === undefined ? '' : ` · ${await sample().catch(() => '?')}`;
      this.note(`${phase} ${left}s left${figure}`, false);
    }
  }

  /** Ends the step's line with its outcome. */
  done(outcome) {
    const elapsed = Math.round((Date.now() - this.#started) / 1000);
    const line = `[${this.#step}/${this.#total}] ${this.#label} · ${outcome}`;
    process.stderr.write(this.#tty ? `\r\x1b[K${line} (at ${formatTime(elapsed)})\n` : `${line}\n`);
  }
}

function formatTime(s) {
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
