import { html } from 'parse5';

/**
 * What a viewer page may contain, by namespace. Everything not listed is dropped (an element is
 * unwrapped, its allowed content kept, unless it is in DROPPED_WITH_CONTENT). Nothing here can run
 * script, load a document, or leave the viewer once its URL attributes are rewritten
 * (`URL_ATTRIBUTES`, handled one by one in html-sanitizer.ts).
 */
// parse5's own namespace enum, so a comparison with an element's namespaceURI is between one type.
export const HTML_NS = html.NS.HTML;
export const SVG_NS = html.NS.SVG;
export const MATHML_NS = html.NS.MATHML;
export const XLINK_NS = html.NS.XLINK;

const set = (text: string): ReadonlySet<string> => new Set(text.trim().split(/\s+/));

export const ELEMENTS: Readonly<Record<string, ReadonlySet<string>>> = {
  [HTML_NS]: set(`
    html head body title style link meta
    a abbr address area article aside audio b bdi bdo big blockquote br button canvas caption center cite code col colgroup
    data datalist dd del details dfn dialog div dl dt em fieldset figcaption figure font footer form h1 h2 h3 h4 h5 h6
    header hgroup hr i img input ins kbd label legend li main map mark marquee menu meter nav nobr ol optgroup option output
    p picture pre progress q rp rt ruby s samp search section select small source span strike strong sub summary sup
    table tbody td textarea tfoot th thead time tr track tt u ul var video wbr svg math`),
  [SVG_NS]: set(`
    svg g defs desc title symbol use image switch a view
    path rect circle ellipse line polyline polygon text tspan textPath
    linearGradient radialGradient stop pattern clipPath mask marker
    filter feBlend feColorMatrix feComponentTransfer feComposite feConvolveMatrix feDiffuseLighting feDisplacementMap
    feDistantLight feDropShadow feFlood feFuncA feFuncB feFuncG feFuncR feGaussianBlur feImage feMerge feMergeNode
    feMorphology feOffset fePointLight feSpecularLighting feSpotLight feTile feTurbulence`),
  [MATHML_NS]: set(`
    math mi mn mo ms mtext mspace mrow mfrac msqrt mroot mstyle merror mpadded mphantom menclose msub msup msubsup
    munder mover munderover mmultiscripts mprescripts none mtable mtr mtd mlabeledtr semantics annotation`),
};

/**
 * Dropped with everything inside: code, plugins, frames, and the foreign-content integration points
 * whose content the browser parses by other rules (the mXSS family: `foreignObject`,
 * `annotation-xml`, `mglyph`, SVG/MathML `style`), SVG animation (it can set an href at run time).
 */
export const DROPPED_WITH_CONTENT: Readonly<Record<string, ReadonlySet<string>>> = {
  [HTML_NS]: set(
    'script template iframe frame frameset object embed applet portal noembed noframes xmp plaintext param base slot',
  ),
  [SVG_NS]: set(
    'script style foreignObject animate set animateMotion animateTransform discard handler listener iframe',
  ),
  [MATHML_NS]: set('annotation-xml maction mglyph malignmark style script'),
};

/** `noscript` is unwrapped: scripts never run in the viewer, so its fallback is the page. */
export const UNWRAPPED = set('noscript');

export const ATTRIBUTES: Readonly<Record<string, ReadonlySet<string>>> = {
  [HTML_NS]: set(`
    id class title lang dir style hidden tabindex role translate draggable spellcheck accesskey itemprop itemscope itemtype
    href src srcset sizes alt width height loading decoding usemap ismap poster controls loop muted autoplay playsinline preload
    kind srclang label default media type download hreflang rel as
    colspan rowspan headers scope span align valign border cellpadding cellspacing bgcolor summary abbr nowrap
    action method name autocomplete value placeholder checked disabled readonly size maxlength minlength min max step pattern
    required multiple list for rows cols wrap selected low high optimum datetime start reversed open cite
    color face text link vlink alink background behavior direction scrollamount scrolldelay content coords shape`),
  [SVG_NS]: set(`
    id class style lang tabindex role href
    x y width height rx ry cx cy r fx fy fr x1 y1 x2 y2 d points pathLength viewBox preserveAspectRatio transform
    fill fill-opacity fill-rule stroke stroke-width stroke-linecap stroke-linejoin stroke-miterlimit stroke-dasharray
    stroke-dashoffset stroke-opacity opacity color display visibility overflow font-family font-size font-weight font-style
    font-variant text-anchor dominant-baseline alignment-baseline baseline-shift letter-spacing word-spacing text-decoration
    writing-mode clip-path clip-rule mask filter marker-start marker-mid marker-end markerWidth markerHeight refX refY orient
    markerUnits gradientUnits gradientTransform spreadMethod offset stop-color stop-opacity patternUnits patternContentUnits
    patternTransform clipPathUnits maskUnits maskContentUnits filterUnits primitiveUnits in in2 result stdDeviation dx dy
    mode operator k1 k2 k3 k4 values type tableValues slope intercept amplitude exponent kernelMatrix order divisor bias
    targetX targetY edgeMode kernelUnitLength preserveAlpha surfaceScale diffuseConstant specularConstant specularExponent
    lighting-color azimuth elevation pointsAtX pointsAtY pointsAtZ limitingConeAngle baseFrequency numOctaves seed
    stitchTiles scale xChannelSelector yChannelSelector flood-color flood-opacity radius textLength lengthAdjust
    startOffset method spacing side rotate vector-effect shape-rendering text-rendering image-rendering color-interpolation
    color-interpolation-filters paint-order mix-blend-mode isolation version`),
  [MATHML_NS]: set(`
    id class style dir mathvariant mathsize mathcolor mathbackground displaystyle scriptlevel display fence separator
    separators stretchy symmetric maxsize minsize largeop movablelimits accent accentunder lspace rspace linethickness
    form columnalign rowalign columnspan rowspan columnlines rowlines frame width height depth voffset notation
    open close encoding`),
};

/** SVG presentation attributes whose value may reference a paint server or filter by `url()`. */
export const SVG_URL_VALUE_ATTRIBUTES = set(
  'fill stroke clip-path mask filter marker-start marker-mid marker-end cursor',
);

/** Meta names that only describe the page (no http-equiv, no refresh, no charset switch). */
export const KEPT_META_NAMES = set(
  'description keywords author viewport theme-color color-scheme generator robots referrer application-name',
);
/** `<link rel>` values a viewer page keeps (the rest reach out: preconnect, dns-prefetch, prefetch, prerender…). */
export const KEPT_LINK_RELS = set('stylesheet icon shortcut apple-touch-icon');
