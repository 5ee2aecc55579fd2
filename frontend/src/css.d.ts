// CSS files are bundled as text (esbuild loader "text"), injected by index.ts.
declare module "*.css" {
  const text: string;
  export default text;
}
