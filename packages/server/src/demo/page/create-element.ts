/** Attributes and properties for {@link createElement}; text goes through `textContent`, never HTML. */
export interface ElementSpec {
  readonly className?: string;
  readonly text?: string;
  readonly attrs?: Readonly<Record<string, string>>;
}

/**
 * Builds an element. Event data is untrusted (any backend can publish it), so this page never uses
 * innerHTML: text is set with textContent only.
 */
export function createElement<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  spec: ElementSpec = {},
  children: readonly Node[] = [],
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (spec.className !== undefined) el.className = spec.className;
  if (spec.text !== undefined) el.textContent = spec.text;
  for (const [name, value] of Object.entries(spec.attrs ?? {})) el.setAttribute(name, value);
  el.append(...children);
  return el;
}
