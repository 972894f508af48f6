/** The request channel's Port names, apart from its schemas so the content bridge can name its Port without carrying them. */
export const REQUEST_PORT_NAME = 'peerlane-request';
export const VIEWER_PORT_NAME = 'peerlane-viewer-request';
