import { EventType } from '../protocol/events.js';
import { abortableSleep } from './abortable-sleep.js';
import { AgentRunError } from './agent-run-error.js';
import { type AgentDefinition, defineAgent } from './define-agent.js';
import { evaluateArithmetic } from './evaluate-arithmetic.js';
import { clip, errorMessage } from './run-end.js';
import { SeededRandom } from './seeded-random.js';

/** Options of {@link createDemoAgent}. */
export interface DemoAgentOptions {
  /** `--demo-delay-ms`: pause between steps (a quarter of it between streamed chunks). Default 400. */
  readonly delayMs?: number;
  /** Seed of the canned choices; the same seed and question give the same run. Default 7. */
  readonly seed?: number;
  /** The agent's name. Default `demo`. */
  readonly name?: string;
}

/** One canned web-search hit. */
export interface SearchHit {
  readonly title: string;
  readonly url: string;
  readonly snippet: string;
}

const CANNED_HITS: readonly [SearchHit, ...SearchHit[]] = [
  {
    title: 'Arithmetic refresher',
    url: 'https://example.com/arithmetic',
    snippet: 'Order of operations, fractions and percentages.',
  },
  {
    title: 'How agents use tools',
    url: 'https://example.com/agents-tools',
    snippet: 'An agent plans, calls tools and reports back.',
  },
  {
    title: 'Streaming answers',
    url: 'https://example.com/streaming',
    snippet: 'Users trust answers they can watch being written.',
  },
  {
    title: 'Resumable event streams',
    url: 'https://example.com/resume',
    snippet: 'Sequence numbers let a client pick up where it left off.',
  },
  {
    title: 'Units and estimates',
    url: 'https://example.com/estimates',
    snippet: 'Round late, state assumptions, check magnitudes.',
  },
];

const CLOSINGS: readonly [string, ...string[]] = [
  'Ask me another one!',
  'Happy to dig deeper if you want.',
  'That is the short version.',
];

/** Words per `stream_chunk`. */
const WORDS_PER_CHUNK = 3;

/**
 * The built-in `demo` agent: deterministic, no network. It thinks, calls a fake `web_search` (canned
 * hits) and a real `calculator` (the arithmetic in the question, or a seeded one), streams its answer in
 * `stream_chunk`s and ends with `agent_completed` / `succeeded`. Its pauses abort with the run, so a
 * cancel ends it at once.
 */
export function createDemoAgent(options: DemoAgentOptions = {}): AgentDefinition {
  const delayMs = options.delayMs ?? 400;
  const seed = options.seed ?? 7;
  return defineAgent({
    name: options.name ?? 'demo',
    async *run(input, ctx) {
      const random = new SeededRandom(SeededRandom.seedFor(seed, input.text));
      const pause = (ms: number) => abortableSleep(ms, ctx.signal);
      const expression = findExpression(input.text) ?? `${random.int(2, 99)} * ${random.int(2, 99)}`;
      await pause(delayMs);
      yield {
        type: EventType.AgentThinking,
        data: {
          reasoning: `The question is "${clip(input.text, 80)}". Plan: search for context, compute ${expression}, then answer.`,
        },
      };
      await pause(delayMs);
      const hits = yield* ctx.tool('web_search', { query: clip(input.text, 100) }, () => pickHits(random));
      await pause(delayMs);
      let computed: string;
      try {
        const value = yield* ctx.tool('calculator', { expression }, () => calculate(expression));
        computed = `${expression} = ${value}.`;
      } catch (error) {
        computed = `I could not compute ${expression}: ${errorMessage(error)}.`;
      }
      const answer = `I found ${hits.length} sources: "${hits[0].title}" and "${hits[1].title}". ${computed} ${random.pick(CLOSINGS)}`;
      for (const text of chunk(answer)) {
        await pause(delayMs / 4);
        yield { type: EventType.StreamChunk, data: { text } };
      }
      yield { type: EventType.AgentCompleted, data: { status: 'succeeded', final_response: answer } };
    },
  });
}

/**
 * The calculator tool. What `evaluateArithmetic` refuses (`division by zero`) is said for the user, so it
 * is thrown as an AgentRunError: its message, unlike a plain error's, is shown in `tool_completed`.
 */
function calculate(expression: string): number {
  try {
    return evaluateArithmetic(expression);
  } catch (error) {
    throw new AgentRunError('CALCULATOR_ERROR', errorMessage(error));
  }
}

/** The longest run of arithmetic in `text` with an operator between two numbers (`17 * 23`), trimmed. */
export function findExpression(text: string): string | undefined {
  const candidates = (text.match(/[\d.()+\-*/%^ ]+/g) ?? [])
    .map((c) => c.trim())
    .filter((c) => /[\d)]\s*[-+*/%^]\s*[-+\d.(]/.test(c));
  return candidates.sort((a, b) => b.length - a.length)[0];
}

function pickHits(random: SeededRandom): readonly [SearchHit, SearchHit] {
  const first = random.int(0, CANNED_HITS.length - 1);
  const second = (first + random.int(1, CANNED_HITS.length - 1)) % CANNED_HITS.length;
  return [CANNED_HITS[first] ?? CANNED_HITS[0], CANNED_HITS[second] ?? CANNED_HITS[0]];
}

/** Splits text into chunks of a few words that concatenate back to the text exactly. */
export function chunk(text: string): string[] {
  const words = text.split(/(?<= )/);
  const chunks: string[] = [];
  for (let i = 0; i < words.length; i += WORDS_PER_CHUNK) {
    chunks.push(words.slice(i, i + WORDS_PER_CHUNK).join(''));
  }
  return chunks;
}
