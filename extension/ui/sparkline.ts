/**
 * SVG path data for a sparkline: `values` spread over `width`, scaled so `max` touches the top.
 * Pure, so the drawing is unit-tested; the popup only sets `d`.
 */
export function sparklinePath(
  values: readonly number[],
  width: number,
  height: number,
  max = Math.max(1, ...values),
): string {
  if (values.length === 0) return '';
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  const y = (value: number): number => height - (Math.max(0, Math.min(value, max)) / max) * (height - 2) - 1;
  return values
    .map((value, index) => `${index === 0 ? 'M' : 'L'}${(index * step).toFixed(1)},${y(value).toFixed(1)}`)
    .join(' ');
}

/** Draws one or more series into `svg`, each with its own CSS class, on a shared scale. */
export function drawSparklines(svg: SVGSVGElement, series: { values: readonly number[]; className: string }[]): void {
  const [width, height] = [svg.viewBox.baseVal.width || 300, svg.viewBox.baseVal.height || 48];
  const max = Math.max(1, ...series.flatMap((entry) => entry.values));
  svg.replaceChildren(
    ...series.map((entry) => {
      const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
      path.setAttribute('d', sparklinePath(entry.values, width, height, max));
      path.setAttribute('class', entry.className);
      return path;
    }),
  );
}
