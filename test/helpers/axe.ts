import { readFileSync } from 'node:fs';

/**
 * axe-core run inside a page through the test driver (Playwright or Puppeteer): evaluation by the
 * driver is not subject to the extension page's CSP. Returns serious and critical violations only.
 */
const AXE_SOURCE = readFileSync('node_modules/axe-core/axe.min.js', 'utf8');
const RUN = `axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }).then((result) =>
  result.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => violation.id + ': ' + violation.nodes.map((node) => node.target.join(' ')).join(', ')))`;

export async function seriousViolations(page: { evaluate(expression: string): Promise<unknown> }): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  return (await page.evaluate(RUN)) as string[];
}
