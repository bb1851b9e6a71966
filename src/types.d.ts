/** Text files bundled as strings (esbuild's text loader; a Jest transform in tests). */
declare module '*.xml' {
  const text: string;
  export default text;
}
declare module '*.sh' {
  const text: string;
  export default text;
}
declare module '*.py' {
  const text: string;
  export default text;
}
