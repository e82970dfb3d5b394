/** Small time-series charts of an instance's usage, drawn by uPlot. */
import uPlot from "uplot";
import { h } from "./dom.ts";

const CHART_WIDTH = 290;
const CHART_HEIGHT = 120;
const LINE_COLOUR = "#2f6fd6";
const FILL_COLOUR = "rgba(47, 111, 214, 0.15)";

export type ChartData = [number[], (number | null)[]];

/** One titled chart whose latest value is written beside the title. */
export class UsageChart {
  readonly element: HTMLElement;
  readonly #plot: uPlot;
  readonly #latest: HTMLElement;

  constructor(title: string, readonly format: (value: number) => string) {
    this.#latest = h("span", { class: "latest" }, "—");
    const canvas = h("div", { class: "plot" });
    this.element = h(
      "figure",
      { class: "chart" },
      h("figcaption", {}, title, " ", this.#latest),
      canvas,
    );
    this.#plot = new uPlot(
      {
        width: CHART_WIDTH,
        height: CHART_HEIGHT,
        legend: { show: false },
        cursor: { show: false },
        scales: {
          // One reading has no span of time: show the minute before it.
          x: {
            time: true,
            range: (_plot, min, max) => (min === max ? [min - 60, max] : [min, max]),
          },
          y: { range: (_plot, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
        },
        series: [{}, { stroke: LINE_COLOUR, fill: FILL_COLOUR, width: 1.5, spanGaps: false }],
        axes: [
          { size: 24, font: "10px sans-serif" },
          {
            size: 70,
            font: "10px sans-serif",
            values: (_plot, ticks) => ticks.map((tick) => format(tick)),
          },
        ],
      },
      [[], []],
      canvas,
    );
  }

  update(data: ChartData): void {
    this.#plot.setData(data);
    const last = data[1].findLast((value) => value !== null);
    this.#latest.textContent = last === undefined || last === null ? "—" : this.format(last);
  }

  destroy(): void {
    this.#plot.destroy();
  }
}
