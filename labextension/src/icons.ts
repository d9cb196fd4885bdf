import { LabIcon } from '@jupyterlab/ui-components';

/** A small chip with an eye ("Ytung", 依瞳: "the pupil of the eye"). */
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 5C6.5 5 2.7 9.1 1.5 12c1.2 2.9 5 7 10.5 7s9.3-4.1 10.5-7C21.3 9.1 17.5 5 12 5zm0 12a5 5 0 1 1 0-10 5 5 0 0 1 0 10z"/>
    <circle cx="12" cy="12" r="2.6"/>
  </g>
</svg>`;

export const ytungIcon = new LabIcon({ name: 'ytung:logo', svgstr: svg });
